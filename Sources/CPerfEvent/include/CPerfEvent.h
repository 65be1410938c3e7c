// perf_event_open(2) for TritMeasure's direct counter backend: the syscall (glibc has no
// wrapper), the attribute struct built in C (its bit-fields do not import into Swift), and the
// ioctls, whose request numbers are macros Swift cannot import.
#ifndef TRITBENCH_CPERFEVENT_H
#define TRITBENCH_CPERFEVENT_H
#include <stdint.h>

/// perf_event_attr.type values this backend uses (PERF_TYPE_*).
enum {
    tritbench_perf_type_hardware = 0,
    tritbench_perf_type_software = 1,
    tritbench_perf_type_hw_cache = 3,
};

/// Opens one counter on the calling thread (pid 0, any CPU), disabled, counting user space only
/// (as PAPI's default domain, PAPI_DOM_USER; also what perf_event_paranoid 2 allows), with
/// PERF_FORMAT_TOTAL_TIME_ENABLED | TOTAL_TIME_RUNNING, plus PERF_FORMAT_GROUP when `group_read`
/// is set (a leader whose members are read in one read(2)). `group_fd` is -1 for a leader or a
/// lone event; members are opened enabled so that the leader's enable starts them all.
/// Returns the fd, or -errno.
int tritbench_perf_open(uint32_t type, uint64_t config, int group_fd, int group_read);

/// PERF_EVENT_IOC_RESET / ENABLE / DISABLE, on the whole group when `group` is set.
/// Return 0, or -errno.
int tritbench_perf_reset(int fd, int group);
int tritbench_perf_enable(int fd, int group);
int tritbench_perf_disable(int fd, int group);

/// Reads a lone event: value, time enabled and time running (ns). Returns 0, or -errno
/// (-EIO for a short read).
int tritbench_perf_read_one(int fd, uint64_t out[3]);

/// Reads a group through its leader: `values[0..<count]` in the order the members were opened,
/// and the group's time enabled and running. Returns the member count the kernel reported
/// (which may exceed `count`; only `count` values are copied), or -errno.
int tritbench_perf_read_group(int fd, int count, uint64_t *values, uint64_t *enabled, uint64_t *running);

/// Closes an fd opened by tritbench_perf_open.
void tritbench_perf_close(int fd);
#endif
