#include "CPerfEvent.h"
#include <errno.h>
#include <string.h>
#include <unistd.h>
#ifdef __linux__
#include <linux/perf_event.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>

int tritbench_perf_open(uint32_t type, uint64_t config, int group_fd, int group_read) {
    struct perf_event_attr a;
    memset(&a, 0, sizeof a);
    a.size = sizeof a;
    a.type = type;
    a.config = config;
    a.disabled = group_fd == -1 ? 1 : 0;
    a.exclude_kernel = 1;
    a.exclude_hv = 1;
    a.read_format = PERF_FORMAT_TOTAL_TIME_ENABLED | PERF_FORMAT_TOTAL_TIME_RUNNING
                  | (group_read ? PERF_FORMAT_GROUP : 0);
    long fd = syscall(SYS_perf_event_open, &a, 0, -1, group_fd, PERF_FLAG_FD_CLOEXEC);
    return fd < 0 ? -errno : (int)fd;
}

static int control(int fd, unsigned long request, int group) {
    return ioctl(fd, request, group ? PERF_IOC_FLAG_GROUP : 0) < 0 ? -errno : 0;
}
int tritbench_perf_reset(int fd, int group) { return control(fd, PERF_EVENT_IOC_RESET, group); }
int tritbench_perf_enable(int fd, int group) { return control(fd, PERF_EVENT_IOC_ENABLE, group); }
int tritbench_perf_disable(int fd, int group) { return control(fd, PERF_EVENT_IOC_DISABLE, group); }

int tritbench_perf_read_one(int fd, uint64_t out[3]) {
    ssize_t n = read(fd, out, 3 * sizeof(uint64_t));
    if (n < 0) return -errno;
    return n == (ssize_t)(3 * sizeof(uint64_t)) ? 0 : -EIO;
}

int tritbench_perf_read_group(int fd, int count, uint64_t *values, uint64_t *enabled, uint64_t *running) {
    // PERF_FORMAT_GROUP | TOTAL_TIME_ENABLED | TOTAL_TIME_RUNNING: nr, enabled, running, value[nr].
    uint64_t buf[3 + 64];
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0) return -errno;
    if (n < (ssize_t)(3 * sizeof(uint64_t))) return -EIO;
    uint64_t nr = buf[0];
    if (nr > 64 || n < (ssize_t)((3 + nr) * sizeof(uint64_t))) return -EIO;
    *enabled = buf[1];
    *running = buf[2];
    for (int i = 0; i < count && (uint64_t)i < nr; i++) values[i] = buf[3 + i];
    return (int)nr;
}

void tritbench_perf_close(int fd) { if (fd >= 0) close(fd); }
#else
int tritbench_perf_open(uint32_t type, uint64_t config, int group_fd, int group_read) { return -ENOSYS; }
int tritbench_perf_reset(int fd, int group) { return -ENOSYS; }
int tritbench_perf_enable(int fd, int group) { return -ENOSYS; }
int tritbench_perf_disable(int fd, int group) { return -ENOSYS; }
int tritbench_perf_read_one(int fd, uint64_t out[3]) { return -ENOSYS; }
int tritbench_perf_read_group(int fd, int count, uint64_t *values, uint64_t *enabled, uint64_t *running) { return -ENOSYS; }
void tritbench_perf_close(int fd) {}
#endif
