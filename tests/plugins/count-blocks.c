/*
 * A TCG plugin built against the qemu-plugin.h the release ships
 * (include/penguin-qemu/qemu-plugin.h), for tests/test_coverage_plugin.py:
 * counts the executions of translation blocks that start in [lo, hi), given
 * as -plugin count-blocks.so,lo=<hex>,hi=<hex>. The count is the exported
 * penguin_test_blocks, which the test's host reads while the VM runs.
 */
#include <qemu-plugin.h>

#include <stdlib.h>
#include <string.h>

QEMU_PLUGIN_EXPORT int qemu_plugin_version = QEMU_PLUGIN_VERSION;
QEMU_PLUGIN_EXPORT uint64_t penguin_test_blocks;

static uint64_t lo, hi;

static void on_exec(unsigned int vcpu, void *udata)
{
    (void)vcpu, (void)udata;
    __atomic_fetch_add(&penguin_test_blocks, 1, __ATOMIC_RELAXED);
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    uint64_t pc = qemu_plugin_tb_vaddr(tb);

    (void)id;
    if (pc >= lo && pc < hi) {
        qemu_plugin_register_vcpu_tb_exec_cb(tb, on_exec, QEMU_PLUGIN_CB_NO_REGS,
                                             NULL);
    }
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id,
                                           const qemu_info_t *info, int argc,
                                           char **argv)
{
    int i;

    (void)info;
    for (i = 0; i < argc; i++) {
        if (!strncmp(argv[i], "lo=", 3)) {
            lo = strtoull(argv[i] + 3, NULL, 16);
        } else if (!strncmp(argv[i], "hi=", 3)) {
            hi = strtoull(argv[i] + 3, NULL, 16);
        } else {
            return -1;
        }
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
    return 0;
}
