/*
 * host.c - libvireo's calls that go straight to the daemon as one remote procedure with
 * remote.proto's structures (vir_rpc, which the storage API shares), and the host and
 * hypervisor calls made that way: virConnectGetDomainCapabilities, virConnectCompareCPU,
 * virConnectBaselineCPU, virConnectCompareHypervisorCPU,
 * virConnectBaselineHypervisorCPU, virConnectGetCPUModelNames.
 */
#include <stdlib.h>
#include <string.h>

#include "lib/driver.h"
#include "rpc/remote_protocol.h"
#include "util/mem.h"

int vir_rpc(vir_connect *conn, bool write, const char *api, int proc, const void *args, void *ret,
            vir_error *err)
{
    vir_error_reset(err);
    if (!conn)
        return vir_report(err, VIR_ERR_INVALID_CONN, "%s", api);
    if (write && (conn->flags & VIR_CONNECT_RO))
        return vir_report(err, VIR_ERR_OPERATION_DENIED, "read only access prevents %s", api);
    if (!conn->driver->rpc_call) /* the test driver */
        return vir_report(err, VIR_ERR_NO_SUPPORT, "%s", api);
    return conn->driver->rpc_call(conn, proc, args, ret, err);
}

char *vir_connect_get_domain_capabilities(vir_connect *conn, const char *emulatorbin,
                                          const char *arch, const char *machine,
                                          const char *virttype, unsigned int flags, vir_error *err)
{
    struct remote_connect_get_domain_capabilities_args a = {
        (char *)emulatorbin, (char *)arch, (char *)machine, (char *)virttype, flags};
    struct remote_connect_get_domain_capabilities_ret r = {0};
    if (vir_rpc(conn, false, "virConnectGetDomainCapabilities",
                REMOTE_PROC_CONNECT_GET_DOMAIN_CAPABILITIES, &a, &r, err) < 0)
        return NULL;
    return r.capabilities;
}

int vir_connect_compare_cpu(vir_connect *conn, const char *xml, unsigned int flags, vir_error *err)
{
    struct remote_connect_compare_cpu_args a = {(char *)xml, flags};
    struct remote_connect_compare_cpu_ret r = {0};
    if (vir_rpc(conn, false, "virConnectCompareCPU", REMOTE_PROC_CONNECT_COMPARE_CPU, &a, &r, err) <
        0)
        return -1;
    return r.result;
}

char *vir_connect_baseline_cpu(vir_connect *conn, const char **xml_cpus, unsigned int n,
                               unsigned int flags, vir_error *err)
{
    struct remote_connect_baseline_cpu_args a = {n, (char **)xml_cpus, flags};
    struct remote_connect_baseline_cpu_ret r = {0};
    if (vir_rpc(conn, false, "virConnectBaselineCPU", REMOTE_PROC_CONNECT_BASELINE_CPU, &a, &r,
                err) < 0)
        return NULL;
    return r.cpu;
}

int vir_connect_compare_hypervisor_cpu(vir_connect *conn, const char *emulator, const char *arch,
                                       const char *machine, const char *virttype, const char *xml,
                                       unsigned int flags, vir_error *err)
{
    struct remote_connect_compare_hypervisor_cpu_args a = {
        (char *)emulator, (char *)arch, (char *)machine, (char *)virttype, (char *)xml, flags};
    struct remote_connect_compare_hypervisor_cpu_ret r = {0};
    if (vir_rpc(conn, false, "virConnectCompareHypervisorCPU",
                REMOTE_PROC_CONNECT_COMPARE_HYPERVISOR_CPU, &a, &r, err) < 0)
        return -1;
    return r.result;
}

char *vir_connect_baseline_hypervisor_cpu(vir_connect *conn, const char *emulator, const char *arch,
                                          const char *machine, const char *virttype,
                                          const char **xml_cpus, unsigned int n, unsigned int flags,
                                          vir_error *err)
{
    struct remote_connect_baseline_hypervisor_cpu_args a = {
        (char *)emulator,  (char *)arch, (char *)machine, (char *)virttype, n,
        (char **)xml_cpus, flags};
    struct remote_connect_baseline_hypervisor_cpu_ret r = {0};
    if (vir_rpc(conn, false, "virConnectBaselineHypervisorCPU",
                REMOTE_PROC_CONNECT_BASELINE_HYPERVISOR_CPU, &a, &r, err) < 0)
        return NULL;
    return r.cpu;
}

int vir_connect_get_cpu_model_names(vir_connect *conn, const char *arch, char ***models,
                                    unsigned int flags, vir_error *err)
{
    if (models)
        *models = NULL;
    if (conn && !arch)
        return vir_report(err, VIR_ERR_INVALID_ARG, "arch in %s must not be NULL",
                          "virConnectGetCPUModelNames");
    struct remote_connect_get_cpu_model_names_args a = {(char *)arch, models != NULL, flags};
    struct remote_connect_get_cpu_model_names_ret r = {0};
    if (vir_rpc(conn, false, "virConnectGetCPUModelNames", REMOTE_PROC_CONNECT_GET_CPU_MODEL_NAMES,
                &a, &r, err) < 0)
        return -1;
    if (models) {
        *models = xcalloc(r.models_len + 1, sizeof(**models));
        for (uint32_t i = 0; i < r.models_len; i++)
            (*models)[i] = r.models[i];
    } else {
        for (uint32_t i = 0; i < r.models_len; i++)
            free(r.models[i]);
    }
    free(r.models);
    return r.ret;
}
