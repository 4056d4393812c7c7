/*
 * lifecycle-rpc.h - the RPC handlers of vireod's mutating domain procedures
 * (start, create, destroy, shutdown, reboot, reset, suspend, resume,
 * undefine, setmem, setvcpus). Each turns its call into a job on the
 * domain's queue (job.c) and answers later: see lifecycle-rpc.c.
 */
#ifndef VIREO_DAEMON_LIFECYCLE_RPC_H
#define VIREO_DAEMON_LIFECYCLE_RPC_H

#include "rpc/dispatch.h"

#define VD_RPC_HANDLER(fn)                                                                         \
    int fn(void *ctx, const struct rpc_header *h, const void *args, void *ret,                     \
           struct rpc_error *err)

VD_RPC_HANDLER(vd_rpc_create);
VD_RPC_HANDLER(vd_rpc_create_xml);
VD_RPC_HANDLER(vd_rpc_destroy);
VD_RPC_HANDLER(vd_rpc_shutdown);
VD_RPC_HANDLER(vd_rpc_reset);
VD_RPC_HANDLER(vd_rpc_suspend);
VD_RPC_HANDLER(vd_rpc_resume);
VD_RPC_HANDLER(vd_rpc_undefine);
VD_RPC_HANDLER(vd_rpc_set_vcpus);
VD_RPC_HANDLER(vd_rpc_set_memory);

#endif
