#ifndef CFERRYSYSTEM_H
#define CFERRYSYSTEM_H
#include <stdint.h>

/// Starts writeback of a file range without waiting for it (sync_file_range with
/// SYNC_FILE_RANGE_WRITE). Returns 0, or -1 with errno set.
int ferry_start_writeback(int fd, int64_t offset, int64_t length);

/// lseek(fd, offset, SEEK_DATA): the start of the first data at or after offset. Returns it, or
/// -1 with errno set (ENXIO: no data from offset on; EINVAL: the file system cannot tell).
int64_t ferry_seek_data(int fd, int64_t offset);

/// lseek(fd, offset, SEEK_HOLE): the start of the first hole at or after offset (the end of the
/// file counts as one). Returns it, or -1 with errno set.
int64_t ferry_seek_hole(int fd, int64_t offset);

/// Fixes glibc's mmap threshold at `bytes` (mallopt M_MMAP_THRESHOLD), so that freed large
/// buffers go back to the system instead of staying in the heap. Returns 1 on success.
int ferry_set_mmap_threshold(int bytes);

/// Opens `path` below the directory `dirfd` without ever leaving it: no symlink is followed at any
/// depth (the last component included), no `..`, no absolute path, no magic link. Uses openat2 with
/// RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS|RESOLVE_NO_MAGICLINKS where the kernel has it, else a walk
/// of O_NOFOLLOW opens, one component at a time. Returns the descriptor, or -1 with errno set
/// (ELOOP for a symlink, EXDEV or EINVAL for a path that leaves the directory).
int ferry_open_beneath(int dirfd, const char *path, int flags, unsigned int mode);

/// O_PATH, which Swift's Glibc module does not export (it needs _GNU_SOURCE).
int ferry_o_path(void);

/// Renames `from` (in `fromdir`) to `to` (in `todir`) unless `to` exists (renameat2 with
/// RENAME_NOREPLACE; where the kernel or file system lacks it, a check and a rename). Returns 0,
/// or -1 with errno set (EEXIST when `to` is there).
int ferry_rename_noreplace(int fromdir, const char *from, int todir, const char *to);

/// A read-write file with no name in `directory` (O_TMPFILE; where the file system lacks it, a
/// file made with mkstemp and unlinked at once): it vanishes when closed, or when the process
/// dies. Returns the descriptor, or -1 with errno set.
int ferry_open_anonymous(const char *directory);

/// For tests: 1 makes ferry_open_beneath use the O_NOFOLLOW walk even where openat2 exists.
void ferry_set_beneath_walk(int force);

#endif
