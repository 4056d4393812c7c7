/*
 * release.h - letting go of the VM file descriptor without waiting for KVM
 * to tear the VM down.
 *
 * The last close of a KVM VM file destroys the VM in the closing thread, and
 * on a host whose kernel waits for SRCU grace periods there (the in-kernel
 * PIT's destruction waits for two, the second a normal one of several timer
 * ticks) that close alone costs more than starting the VM did. kvm_release_fd
 * hands the descriptor's last reference to a kernel worker instead; see
 * release.c for how and for the measurements behind it.
 */
#ifndef VIREO_VMM_KVM_RELEASE_H
#define VIREO_VMM_KVM_RELEASE_H

/*
 * Closes fd (a KVM VM or vCPU descriptor, or any other file) in this process. When the
 * kernel lets it, the final release of the file (and so KVM's teardown of the VM) runs
 * later in a kernel worker: returns 1. When it does not (io_uring unavailable), fd is
 * closed in place and the teardown runs before this returns: returns 0. -EBADF when fd
 * is not open.
 *
 * Call it last: the VM must no longer be needed by anything in this process, and every
 * resource another process could contend for (disk images, their locks, guest memory
 * mappings, sockets) must already be released, because the kernel keeps the VM object
 * alive after this returns and possibly after this process has exited.
 */
int kvm_release_fd(int fd);

#endif
