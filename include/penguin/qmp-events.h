/*
 * Penguin's own QMP events (penguin/qmp-events.c): what the rest of Penguin
 * needs besides the exported penguin_qmp_emit_event().
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef PENGUIN_QMP_EVENTS_H
#define PENGUIN_QMP_EVENTS_H

/*
 * Send every event emitted so far, now (main loop, BQL): before the main
 * loop returns, so that a shutdown requested after an event does not lose it.
 */
void penguin_qmp_events_flush(void);

#endif /* PENGUIN_QMP_EVENTS_H */
