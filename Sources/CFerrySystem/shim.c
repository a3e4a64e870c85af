#define _GNU_SOURCE
#include <malloc.h>
#include <fcntl.h>
#include <errno.h>
#include <unistd.h>
#include <sys/stat.h>
#include <stdio.h>
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

#include <linux/openat2.h>
#include <sys/syscall.h>
#include <string.h>
#include <stdlib.h>

static int force_walk = 0;

void ferry_set_beneath_walk(int force) { force_walk = force; }

/* The fallback: every component but the last opened as a directory with O_NOFOLLOW, the last
   with the caller's flags and O_NOFOLLOW. `..`, `.`, empty components and absolute paths are
   refused before anything is opened. */
static int open_by_walk(int dirfd, const char *path, int flags, unsigned int mode) {
    size_t length = strlen(path);
    if (length == 0 || path[0] == '/' || length >= 4096) { errno = EINVAL; return -1; }
    char copy[4096];
    memcpy(copy, path, length + 1);
    for (char *part = copy, *end; part; part = end) {
        end = strchr(part, '/');
        if (end) *end = 0;
        if (*part == 0 || strcmp(part, ".") == 0 || strcmp(part, "..") == 0) { errno = EXDEV; return -1; }
        if (end) { *end = '/'; end++; }
    }
    int current = dirfd;
    char *part = copy;
    for (;;) {
        char *slash = strchr(part, '/');
        if (!slash) break;
        *slash = 0;
        int next = openat(current, part, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        int saved = errno;
        if (current != dirfd) close(current);
        if (next < 0) { errno = saved; return -1; }
        current = next;
        part = slash + 1;
    }
    int fd = openat(current, part, flags | O_NOFOLLOW | O_CLOEXEC, mode);
    int saved = errno;
    if (current != dirfd) close(current);
    errno = saved;
    return fd;
}

int ferry_open_beneath(int dirfd, const char *path, int flags, unsigned int mode) {
    if (!force_walk) {
        struct open_how how;
        memset(&how, 0, sizeof how);
        how.flags = (unsigned long long)(flags | O_CLOEXEC);
        how.mode = ((flags & O_CREAT) || (flags & __O_TMPFILE) == __O_TMPFILE) ? mode : 0;
        how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
        long fd = syscall(SYS_openat2, dirfd, path, &how, sizeof how);
        if (fd >= 0 || (errno != ENOSYS && errno != EPERM)) return (int)fd;
    }
    return open_by_walk(dirfd, path, flags, mode);
}

int ferry_o_path(void) { return O_PATH; }

int ferry_open_anonymous(const char *directory) {
    int fd = open(directory, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)) return fd;
    size_t length = strlen(directory);
    if (length > 4000) { errno = ENAMETOOLONG; return -1; }
    char path[4096];
    memcpy(path, directory, length);
    memcpy(path + length, "/.ferry-XXXXXX", 15);
    fd = mkostemp(path, O_CLOEXEC);
    if (fd >= 0) unlink(path);
    return fd;
}

int ferry_rename_noreplace(int fromdir, const char *from, int todir, const char *to) {
    long result = syscall(SYS_renameat2, fromdir, from, todir, to, 1 /* RENAME_NOREPLACE */);
    if (result == 0 || (errno != ENOSYS && errno != EINVAL)) return (int)result;
    struct stat info;
    if (fstatat(todir, to, &info, AT_SYMLINK_NOFOLLOW) == 0) { errno = EEXIST; return -1; }
    return renameat(fromdir, from, todir, to);
}
