/* Stand-in for QEMU's qemu/osdep.h: what the fixture's cpu.h needs first. */
#ifndef FIXTURE_OSDEP_H
#define FIXTURE_OSDEP_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
typedef struct CPUArchState CPUArchState;
#endif
