#define _GNU_SOURCE
#include <malloc.h>
#include <fcntl.h>
#include <errno.h>
#include <unistd.h>
#include "CFerrySystem.h"

int ferry_start_writeback(int fd, int64_t offset, int64_t length) {
#ifdef SYNC_FILE_RANGE_WRITE
    return sync_file_range(fd, offset, length, SYNC_FILE_RANGE_WRITE);
#else
    (void)fd; (void)offset; (void)length;
    return 0;
#endif
}

int64_t ferry_seek_data(int fd, int64_t offset) {
#ifdef SEEK_DATA
    return lseek(fd, offset, SEEK_DATA);
#else
    (void)fd; (void)offset;
    errno = EINVAL;
    return -1;
#endif
}

int64_t ferry_seek_hole(int fd, int64_t offset) {
#ifdef SEEK_HOLE
    return lseek(fd, offset, SEEK_HOLE);
#else
    (void)fd; (void)offset;
    errno = EINVAL;
    return -1;
#endif
}

int ferry_set_mmap_threshold(int bytes) {
    return mallopt(M_MMAP_THRESHOLD, bytes);
}
