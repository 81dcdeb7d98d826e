/* Fixture common unit: sees CPUArchState only as an incomplete type. */
#include "qemu/osdep.h"

CPUArchState *fixture_other_env;
