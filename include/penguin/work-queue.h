/*
 * Work that callers on any thread hand to the main loop: run one item at a
 * time, in the order queued, never inside another item (an item may poll the
 * main loop, as a snapshot does while it writes).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef PENGUIN_WORK_QUEUE_H
#define PENGUIN_WORK_QUEUE_H

typedef void PenguinWorkFn(void *opaque);

/* Queue @fn(@opaque) for the main loop; the VM must exist. Any thread. */
void penguin_work_queue_push(PenguinWorkFn *fn, void *opaque);

/*
 * Run every queued item now, in order (main loop, BQL, outside any item):
 * what was queued before a shutdown request is done before the main loop
 * returns.
 */
void penguin_work_queue_drain(void);

/* Whether a queued item or synchronous snapshot operation runs (main loop). */
bool penguin_snapshot_busy(void);

/* Bracket a synchronous snapshot operation (main loop, BQL). */
void penguin_snapshot_busy_enter(void);
void penguin_snapshot_busy_leave(void);

#endif /* PENGUIN_WORK_QUEUE_H */
