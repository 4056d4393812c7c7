/*
 * vireo.h - the public C API of libvireo, Vireo's client library.
 *
 * It is shaped after libvirt's client API (virConnectOpen, virDomainLookupByName,
 * virDomainCreate, ...) so that people who know libvirt find the same verbs,
 * flags and numbers here, under Vireo's names (vir_connect_open,
 * vir_domain_lookup_by_name, vir_domain_create, ...). Flag values, state and
 * reason numbers, and error codes are libvirt's, so that values crossing the
 * libvirt remote protocol need no translation.
 *
 * Two differences from libvirt, on purpose:
 *  - errors are values: every call that can fail takes a `vir_error *err`
 *    (may be NULL) and fills it with a code and a one-line message instead of
 *    keeping a hidden per-thread "last error";
 *  - handles are plain: a vir_domain is a snapshot of (name, uuid, id) plus a
 *    reference to its connection, freed with vir_domain_free().
 *
 * A connection is opened on a URI; the URI's scheme selects the driver
 * (see src/lib/driver.h). `test:///default` is an in-process, in-memory driver
 * that starts with one running domain named "test", like libvirt's.
 */
#ifndef VIREO_VIREO_H
#define VIREO_VIREO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VIR_UUID_BUFLEN        16
#define VIR_UUID_STRING_BUFLEN 37

/* ---- errors ---------------------------------------------------------- */

/* libvirt's virErrorNumber (the wire values of remote_error.code). */
typedef enum {
    VIR_ERR_OK = 0,
    VIR_ERR_INTERNAL_ERROR = 1,
    VIR_ERR_NO_MEMORY = 2,
    VIR_ERR_NO_SUPPORT = 3,
    VIR_ERR_UNKNOWN_HOST = 4,
    VIR_ERR_NO_CONNECT = 5,
    VIR_ERR_INVALID_CONN = 6,
    VIR_ERR_INVALID_DOMAIN = 7,
    VIR_ERR_INVALID_ARG = 8,
    VIR_ERR_OPERATION_FAILED = 9,
    VIR_ERR_GET_FAILED = 10,
    VIR_ERR_POST_FAILED = 11,
    VIR_ERR_HTTP_ERROR = 12,
    VIR_ERR_SEXPR_SERIAL = 13,
    VIR_ERR_NO_XEN = 14,
    VIR_ERR_XEN_CALL = 15,
    VIR_ERR_OS_TYPE = 16,
    VIR_ERR_NO_KERNEL = 17,
    VIR_ERR_NO_ROOT = 18,
    VIR_ERR_NO_SOURCE = 19,
    VIR_ERR_NO_TARGET = 20,
    VIR_ERR_NO_NAME = 21,
    VIR_ERR_NO_OS = 22,
    VIR_ERR_NO_DEVICE = 23,
    VIR_ERR_NO_XENSTORE = 24,
    VIR_ERR_DRIVER_FULL = 25,
    VIR_ERR_CALL_FAILED = 26,
    VIR_ERR_XML_ERROR = 27,
    VIR_ERR_DOM_EXIST = 28,
    VIR_ERR_OPERATION_DENIED = 29,
    VIR_ERR_OPEN_FAILED = 30,
    VIR_ERR_READ_FAILED = 31,
    VIR_ERR_PARSE_FAILED = 32,
    VIR_ERR_CONF_SYNTAX = 33,
    VIR_ERR_WRITE_FAILED = 34,
    VIR_ERR_XML_DETAIL = 35,
    VIR_ERR_INVALID_NETWORK = 36,
    VIR_ERR_NETWORK_EXIST = 37,
    VIR_ERR_SYSTEM_ERROR = 38,
    VIR_ERR_RPC = 39,
    VIR_ERR_GNUTLS_ERROR = 40,
    VIR_ERR_NO_DOMAIN = 42,
    VIR_ERR_NO_NETWORK = 43,
    VIR_ERR_INVALID_MAC = 44,
    VIR_ERR_AUTH_FAILED = 45,
    VIR_ERR_INVALID_STORAGE_POOL = 46,
    VIR_ERR_INVALID_STORAGE_VOL = 47,
    VIR_ERR_NO_STORAGE_POOL = 49,
    VIR_ERR_NO_STORAGE_VOL = 50,
    VIR_ERR_INVALID_NODE_DEVICE = 52,
    VIR_ERR_NO_NODE_DEVICE = 53,
    VIR_ERR_NO_SECURITY_MODEL = 54,
    VIR_ERR_OPERATION_INVALID = 55,
    VIR_ERR_NO_INTERFACE = 57,
    VIR_ERR_INVALID_INTERFACE = 58,
    VIR_ERR_MULTIPLE_INTERFACES = 59,
    VIR_ERR_INVALID_NWFILTER = 61,
    VIR_ERR_NO_NWFILTER = 62,
    VIR_ERR_BUILD_FIREWALL = 63,
    VIR_ERR_INVALID_SECRET = 65,
    VIR_ERR_NO_SECRET = 66,
    VIR_ERR_CONFIG_UNSUPPORTED = 67,
    VIR_ERR_OPERATION_TIMEOUT = 68,
    VIR_ERR_MIGRATE_PERSIST_FAILED = 69,
    VIR_ERR_HOOK_SCRIPT_FAILED = 70,
    VIR_ERR_INVALID_DOMAIN_SNAPSHOT = 71,
    VIR_ERR_NO_DOMAIN_SNAPSHOT = 72,
    VIR_ERR_INVALID_STREAM = 73,
    VIR_ERR_ARGUMENT_UNSUPPORTED = 74,
    VIR_ERR_STORAGE_PROBE_FAILED = 75,
    VIR_ERR_STORAGE_POOL_BUILT = 76,
    VIR_ERR_SNAPSHOT_REVERT_RISKY = 77,
    VIR_ERR_OPERATION_ABORTED = 78,
    VIR_ERR_AUTH_CANCELLED = 79,
    VIR_ERR_NO_DOMAIN_METADATA = 80,
    VIR_ERR_MIGRATE_UNSAFE = 81,
    VIR_ERR_OVERFLOW = 82,
    VIR_ERR_BLOCK_COPY_ACTIVE = 83,
    VIR_ERR_OPERATION_UNSUPPORTED = 84,
    VIR_ERR_SSH = 85,
    VIR_ERR_AGENT_UNRESPONSIVE = 86,
    VIR_ERR_RESOURCE_BUSY = 87,
    VIR_ERR_ACCESS_DENIED = 88,
    VIR_ERR_DBUS_SERVICE = 89,
    VIR_ERR_STORAGE_VOL_EXIST = 90,
    VIR_ERR_CPU_INCOMPATIBLE = 91,
    VIR_ERR_XML_INVALID_SCHEMA = 92,
    VIR_ERR_MIGRATE_FINISH_OK = 93,
    VIR_ERR_AUTH_UNAVAILABLE = 94,
    VIR_ERR_NO_SERVER = 95,
    VIR_ERR_NO_CLIENT = 96,
    VIR_ERR_AGENT_UNSYNCED = 97,
    VIR_ERR_LIBSSH = 98,
    VIR_ERR_DEVICE_MISSING = 99,
    VIR_ERR_INVALID_NWFILTER_BINDING = 100,
    VIR_ERR_NO_NWFILTER_BINDING = 101,
    VIR_ERR_INVALID_DOMAIN_CHECKPOINT = 102,
    VIR_ERR_NO_DOMAIN_CHECKPOINT = 103,
    VIR_ERR_NO_DOMAIN_BACKUP = 104,
    VIR_ERR_INVALID_NETWORK_PORT = 105,
    VIR_ERR_NETWORK_PORT_EXIST = 106,
    VIR_ERR_NO_NETWORK_PORT = 107,
    VIR_ERR_NO_HOSTNAME = 108,
    VIR_ERR_CHECKPOINT_INCONSISTENT = 109,
    VIR_ERR_MULTIPLE_DOMAINS = 110,
} vir_error_code;

/* libvirt's virErrorDomain: where an error was raised (remote_error.domain). */
typedef enum {
    VIR_FROM_NONE = 0,
    VIR_FROM_XEN = 1,
    VIR_FROM_XEND = 2,
    VIR_FROM_XENSTORE = 3,
    VIR_FROM_SEXPR = 4,
    VIR_FROM_XML = 5,
    VIR_FROM_DOM = 6,
    VIR_FROM_RPC = 7,
    VIR_FROM_PROXY = 8,
    VIR_FROM_CONF = 9,
    VIR_FROM_QEMU = 10,
    VIR_FROM_NET = 11,
    VIR_FROM_TEST = 12,
    VIR_FROM_REMOTE = 13,
    VIR_FROM_OPENVZ = 14,
    VIR_FROM_XENXM = 15,
    VIR_FROM_STATS_LINUX = 16,
    VIR_FROM_LXC = 17,
    VIR_FROM_STORAGE = 18,
    VIR_FROM_NETWORK = 19,
    VIR_FROM_DOMAIN = 20,
    VIR_FROM_UML = 21,
    VIR_FROM_NODEDEV = 22,
    VIR_FROM_XEN_INOTIFY = 23,
    VIR_FROM_SECURITY = 24,
    VIR_FROM_VBOX = 25,
    VIR_FROM_INTERFACE = 26,
    VIR_FROM_ONE = 27,
    VIR_FROM_ESX = 28,
    VIR_FROM_PHYP = 29,
    VIR_FROM_SECRET = 30,
    VIR_FROM_CPU = 31,
    VIR_FROM_XENAPI = 32,
    VIR_FROM_NWFILTER = 33,
    VIR_FROM_HOOK = 34,
    VIR_FROM_DOMAIN_SNAPSHOT = 35,
    VIR_FROM_AUDIT = 36,
    VIR_FROM_SYSINFO = 37,
    VIR_FROM_STREAMS = 38,
    VIR_FROM_VMWARE = 39,
    VIR_FROM_EVENT = 40,
    VIR_FROM_LIBXL = 41,
    VIR_FROM_LOCKING = 42,
    VIR_FROM_HYPERV = 43,
    VIR_FROM_CAPABILITIES = 44,
    VIR_FROM_URI = 45,
    VIR_FROM_AUTH = 46,
    VIR_FROM_DBUS = 47,
    VIR_FROM_PARALLELS = 48,
    VIR_FROM_DEVICE = 49,
    VIR_FROM_SSH = 50,
    VIR_FROM_LOCKSPACE = 51,
    VIR_FROM_INITCTL = 52,
    VIR_FROM_IDENTITY = 53,
    VIR_FROM_CGROUP = 54,
    VIR_FROM_ACCESS = 55,
    VIR_FROM_SYSTEMD = 56,
    VIR_FROM_BHYVE = 57,
    VIR_FROM_CRYPTO = 58,
    VIR_FROM_FIREWALL = 59,
    VIR_FROM_POLKIT = 60,
    VIR_FROM_THREAD = 61,
    VIR_FROM_ADMIN = 62,
    VIR_FROM_LOGGING = 63,
    VIR_FROM_XENXL = 64,
    VIR_FROM_PERF = 65,
    VIR_FROM_LIBSSH = 66,
    VIR_FROM_RESCTRL = 67,
    VIR_FROM_FIREWALLD = 68,
    VIR_FROM_DOMAIN_CHECKPOINT = 69,
    VIR_FROM_TPM = 70,
    VIR_FROM_BPF = 71,
    VIR_FROM_CH = 72,
} vir_error_domain;

/* libvirt's virErrorLevel. */
typedef enum {
    VIR_ERR_NONE = 0,
    VIR_ERR_WARNING = 1,
    VIR_ERR_ERROR = 2,
} vir_error_level;

#define VIR_ERROR_MSG_MAX 1024

/*
 * A failure: libvirt's code and the whole message as virsh prints it after
 * "error: " (for example "Requested operation is not valid: domain is not
 * running").
 */
typedef struct vir_error {
    int code;
    char message[VIR_ERROR_MSG_MAX];
} vir_error;

/* Empties an error so it can be reused. */
void vir_error_reset(vir_error *err);

/* ---- connections ----------------------------------------------------- */

typedef struct vir_connect vir_connect;
typedef struct vir_domain vir_domain;

/* vir_connect_open flags */
typedef enum {
    VIR_CONNECT_RO = (1 << 0),
} vir_connect_flags;

/*
 * Opens a connection. uri NULL (or "") means $VIREO_DEFAULT_URI, then
 * "vireo:///system" (the local daemon). Returns NULL with err filled on
 * failure ("no connection driver available for URI" when no driver serves
 * the scheme).
 */
vir_connect *vir_connect_open(const char *uri, unsigned int flags, vir_error *err);
vir_connect *vir_connect_open_read_only(const char *uri, vir_error *err);

/* What an authentication callback is asked for (libvirt's VIR_CRED_* numbers). */
typedef enum {
    VIR_CRED_AUTHNAME = 2,   /* the user name to authenticate as */
    VIR_CRED_PASSPHRASE = 5, /* a password (not echoed) */
} vir_connect_credential_type;

typedef struct {
    int type;           /* vir_connect_credential_type */
    const char *prompt; /* what to ask ("Please enter your authentication name") */
    char *result;       /* the answer, malloc'd by the callback; freed by the library */
} vir_connect_credential;

/* Fills each credential's result; 0, or -1 to give up. */
typedef int (*vir_connect_auth_fn)(vir_connect_credential *creds, unsigned int ncreds,
                                   void *opaque);

/*
 * Opens a connection that may need authentication (SASL on tcp://, tls://
 * and unix:// URIs): what libvirt's auth.conf ($LIBVIRT_AUTH_FILE, else
 * $XDG_CONFIG_HOME/libvirt/auth.conf, else /etc/libvirt/auth.conf) does not
 * answer for the host is asked through cb (NULL: no questions, the
 * authentication fails). URIs as libvirt's: vireo|qemu[+unix|+tcp|+tls|+ssh]
 * ://[user@][host][:port]/system with ?socket=, ?pkipath=, ?no_verify=1,
 * ?keyfile=, ?command=, ?netcat=.
 */
vir_connect *vir_connect_open_auth(const char *uri, vir_connect_auth_fn cb, void *opaque,
                                   unsigned int flags, vir_error *err);
/* Closes the connection; domain handles still held keep it alive. */
int vir_connect_close(vir_connect *conn);
bool vir_connect_is_read_only(const vir_connect *conn);

/* The canonical URI (malloc'd). */
char *vir_connect_get_uri(vir_connect *conn, vir_error *err);
char *vir_connect_get_hostname(vir_connect *conn, vir_error *err);
/* The hypervisor's version as major * 1000000 + minor * 1000 + release. */
int vir_connect_get_version(vir_connect *conn, unsigned long *hv_version, vir_error *err);
/* The library's own version, same encoding. */
unsigned long vir_get_lib_version(void);
/* The driver's name, as virsh's "Using API:" line shows it ("TEST"). */
const char *vir_connect_get_type(vir_connect *conn);
char *vir_connect_get_capabilities(vir_connect *conn, vir_error *err);
/* virConnectGetDomainCapabilities: what the hypervisor offers a domain of that emulator,
 * architecture, machine and virtualization type (each NULL for the default), as XML. */
char *vir_connect_get_domain_capabilities(vir_connect *conn, const char *emulatorbin,
                                          const char *arch, const char *machine,
                                          const char *virttype, unsigned int flags, vir_error *err);

/* virConnectCompareCPU: how the CPU a <cpu> (or a document holding one) describes compares
 * with what the hypervisor gives on the host: 0 incompatible, 1 identical, 2 the host is a
 * superset; -1 on error. */
int vir_connect_compare_cpu(vir_connect *conn, const char *xml, unsigned int flags, vir_error *err);
/* virConnectCompareHypervisorCPU: the same against what the hypervisor (that emulator, arch,
 * machine and virtualization type, each NULL for the default) can give a guest. */
int vir_connect_compare_hypervisor_cpu(vir_connect *conn, const char *emulator, const char *arch,
                                       const char *machine, const char *virttype, const char *xml,
                                       unsigned int flags, vir_error *err);
/* virConnectBaselineCPU: the <cpu> that all n given CPU definitions support (free() it). */
char *vir_connect_baseline_cpu(vir_connect *conn, const char **xml_cpus, unsigned int n,
                               unsigned int flags, vir_error *err);
/* virConnectBaselineHypervisorCPU: the same, limited to what that hypervisor can give. */
char *vir_connect_baseline_hypervisor_cpu(vir_connect *conn, const char *emulator, const char *arch,
                                          const char *machine, const char *virttype,
                                          const char **xml_cpus, unsigned int n, unsigned int flags,
                                          vir_error *err);
/* virConnectGetCPUModelNames: the CPU models the hypervisor knows for arch; with models, the
 * names (NULL-terminated, free() each and the array). The count (0: every model is
 * accepted), or -1 on error. */
int vir_connect_get_cpu_model_names(vir_connect *conn, const char *arch, char ***models,
                                    unsigned int flags, vir_error *err);

typedef struct vir_node_info {
    char model[32];       /* CPU model */
    unsigned long memory; /* KiB */
    unsigned int cpus;
    unsigned int mhz;
    unsigned int nodes;
    unsigned int sockets; /* per node */
    unsigned int cores;   /* per socket */
    unsigned int threads; /* per core */
} vir_node_info;

int vir_node_get_info(vir_connect *conn, vir_node_info *info, vir_error *err);

/* ---- domains: states, reasons, info ----------------------------------- */

typedef enum {
    VIR_DOMAIN_NOSTATE = 0,
    VIR_DOMAIN_RUNNING = 1,
    VIR_DOMAIN_BLOCKED = 2,
    VIR_DOMAIN_PAUSED = 3,
    VIR_DOMAIN_SHUTDOWN = 4,
    VIR_DOMAIN_SHUTOFF = 5,
    VIR_DOMAIN_CRASHED = 6,
    VIR_DOMAIN_PMSUSPENDED = 7,
} vir_domain_state;

typedef enum {
    VIR_DOMAIN_RUNNING_UNKNOWN = 0,
    VIR_DOMAIN_RUNNING_BOOTED = 1,
    VIR_DOMAIN_RUNNING_MIGRATED = 2,
    VIR_DOMAIN_RUNNING_RESTORED = 3,
    VIR_DOMAIN_RUNNING_FROM_SNAPSHOT = 4,
    VIR_DOMAIN_RUNNING_UNPAUSED = 5,
    VIR_DOMAIN_RUNNING_MIGRATION_CANCELED = 6,
    VIR_DOMAIN_RUNNING_SAVE_CANCELED = 7,
    VIR_DOMAIN_RUNNING_WAKEUP = 8,
    VIR_DOMAIN_RUNNING_CRASHED = 9,
    VIR_DOMAIN_RUNNING_POSTCOPY = 10,
    VIR_DOMAIN_RUNNING_POSTCOPY_FAILED = 11,
} vir_domain_running_reason;

typedef enum {
    VIR_DOMAIN_PAUSED_UNKNOWN = 0,
    VIR_DOMAIN_PAUSED_USER = 1,
    VIR_DOMAIN_PAUSED_MIGRATION = 2,
    VIR_DOMAIN_PAUSED_SAVE = 3,
    VIR_DOMAIN_PAUSED_DUMP = 4,
    VIR_DOMAIN_PAUSED_IOERROR = 5,
    VIR_DOMAIN_PAUSED_WATCHDOG = 6,
    VIR_DOMAIN_PAUSED_FROM_SNAPSHOT = 7,
    VIR_DOMAIN_PAUSED_SHUTTING_DOWN = 8,
    VIR_DOMAIN_PAUSED_SNAPSHOT = 9,
    VIR_DOMAIN_PAUSED_CRASHED = 10,
    VIR_DOMAIN_PAUSED_STARTING_UP = 11,
    VIR_DOMAIN_PAUSED_POSTCOPY = 12,
    VIR_DOMAIN_PAUSED_POSTCOPY_FAILED = 13,
} vir_domain_paused_reason;

typedef enum {
    VIR_DOMAIN_SHUTDOWN_UNKNOWN = 0,
    VIR_DOMAIN_SHUTDOWN_USER = 1,
} vir_domain_shutdown_reason;

typedef enum {
    VIR_DOMAIN_SHUTOFF_UNKNOWN = 0,
    VIR_DOMAIN_SHUTOFF_SHUTDOWN = 1,
    VIR_DOMAIN_SHUTOFF_DESTROYED = 2,
    VIR_DOMAIN_SHUTOFF_CRASHED = 3,
    VIR_DOMAIN_SHUTOFF_MIGRATED = 4,
    VIR_DOMAIN_SHUTOFF_SAVED = 5,
    VIR_DOMAIN_SHUTOFF_FAILED = 6,
    VIR_DOMAIN_SHUTOFF_FROM_SNAPSHOT = 7,
    VIR_DOMAIN_SHUTOFF_DAEMON = 8,
} vir_domain_shutoff_reason;

typedef enum {
    VIR_DOMAIN_CRASHED_UNKNOWN = 0,
    VIR_DOMAIN_CRASHED_PANICKED = 1,
} vir_domain_crashed_reason;

typedef struct vir_domain_info {
    unsigned char state;   /* vir_domain_state */
    unsigned long max_mem; /* KiB */
    unsigned long memory;  /* KiB */
    unsigned short nr_virt_cpu;
    unsigned long long cpu_time; /* ns */
} vir_domain_info;

/* ---- listing and lookup --------------------------------------------- */

/* vir_connect_list_all_domains flags (libvirt's values) */
typedef enum {
    VIR_CONNECT_LIST_DOMAINS_ACTIVE = 1 << 0,
    VIR_CONNECT_LIST_DOMAINS_INACTIVE = 1 << 1,
    VIR_CONNECT_LIST_DOMAINS_PERSISTENT = 1 << 2,
    VIR_CONNECT_LIST_DOMAINS_TRANSIENT = 1 << 3,
    VIR_CONNECT_LIST_DOMAINS_RUNNING = 1 << 4,
    VIR_CONNECT_LIST_DOMAINS_PAUSED = 1 << 5,
    VIR_CONNECT_LIST_DOMAINS_SHUTOFF = 1 << 6,
    VIR_CONNECT_LIST_DOMAINS_OTHER = 1 << 7,
    VIR_CONNECT_LIST_DOMAINS_MANAGEDSAVE = 1 << 8,
    VIR_CONNECT_LIST_DOMAINS_NO_MANAGEDSAVE = 1 << 9,
    VIR_CONNECT_LIST_DOMAINS_AUTOSTART = 1 << 10,
    VIR_CONNECT_LIST_DOMAINS_NO_AUTOSTART = 1 << 11,
    VIR_CONNECT_LIST_DOMAINS_HAS_SNAPSHOT = 1 << 12,
    VIR_CONNECT_LIST_DOMAINS_NO_SNAPSHOT = 1 << 13,
} vir_connect_list_all_domains_flags;

/*
 * Fills *domains with a malloc'd array of handles (running domains first by
 * id, then inactive ones by name) and returns their count, or -1.
 * Within each group of flags (active/inactive, persistent/transient,
 * running/paused/shutoff/other, autostart/no-autostart, managed save) a
 * domain must match one of the given flags; an empty group matches all.
 * Free each handle with vir_domain_free() and the array with free().
 */
int vir_connect_list_all_domains(vir_connect *conn, vir_domain ***domains, unsigned int flags,
                                 vir_error *err);
int vir_connect_num_of_domains(vir_connect *conn, vir_error *err);

vir_domain *vir_domain_lookup_by_name(vir_connect *conn, const char *name, vir_error *err);
vir_domain *vir_domain_lookup_by_id(vir_connect *conn, int id, vir_error *err);
vir_domain *vir_domain_lookup_by_uuid(vir_connect *conn, const unsigned char *uuid, vir_error *err);
vir_domain *vir_domain_lookup_by_uuid_string(vir_connect *conn, const char *uuid, vir_error *err);

/* Another reference to the same handle. */
vir_domain *vir_domain_ref(vir_domain *dom);
void vir_domain_free(vir_domain *dom);

const char *vir_domain_get_name(const vir_domain *dom);
/* The id when running, or -1 (it is looked up again: ids change on start). */
int vir_domain_get_id(vir_domain *dom);
/* The id the handle was made with, without a round trip (what libvirt's
 * virDomainGetID returns): right for handles fresh from a listing. */
int vir_domain_get_id_cached(const vir_domain *dom);
void vir_domain_get_uuid(const vir_domain *dom, unsigned char uuid[VIR_UUID_BUFLEN]);
void vir_domain_get_uuid_string(const vir_domain *dom, char buf[VIR_UUID_STRING_BUFLEN]);
vir_connect *vir_domain_get_connect(vir_domain *dom);
char *vir_domain_get_os_type(vir_domain *dom, vir_error *err);

/* ---- define, create, lifecycle --------------------------------------- */

typedef enum {
    VIR_DOMAIN_DEFINE_VALIDATE = 1 << 0,
} vir_domain_define_flags;

typedef enum {
    VIR_DOMAIN_NONE = 0,
    VIR_DOMAIN_START_PAUSED = 1 << 0,
    VIR_DOMAIN_START_AUTODESTROY = 1 << 1,
    VIR_DOMAIN_START_BYPASS_CACHE = 1 << 2,
    VIR_DOMAIN_START_FORCE_BOOT = 1 << 3,
    VIR_DOMAIN_START_VALIDATE = 1 << 4,
} vir_domain_create_flags;

typedef enum {
    VIR_DOMAIN_UNDEFINE_MANAGED_SAVE = 1 << 0,
    VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA = 1 << 1,
    VIR_DOMAIN_UNDEFINE_NVRAM = 1 << 2,
    VIR_DOMAIN_UNDEFINE_KEEP_NVRAM = 1 << 3,
    VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA = 1 << 4,
    VIR_DOMAIN_UNDEFINE_TPM = 1 << 5,
    VIR_DOMAIN_UNDEFINE_KEEP_TPM = 1 << 6,
} vir_domain_undefine_flags;

/* virDomainShutdownFlags and virDomainReboot modes (libvirt's values). */
typedef enum {
    VIR_DOMAIN_SHUTDOWN_DEFAULT = 0,
    VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN = 1,
    VIR_DOMAIN_SHUTDOWN_GUEST_AGENT = 2,
    VIR_DOMAIN_SHUTDOWN_INITCTL = 4,
    VIR_DOMAIN_SHUTDOWN_SIGNAL = 8,
    VIR_DOMAIN_SHUTDOWN_PARAVIRT = 16,
} vir_domain_shutdown_flags;

typedef enum {
    VIR_DOMAIN_REBOOT_DEFAULT = 0,
    VIR_DOMAIN_REBOOT_ACPI_POWER_BTN = 1,
    VIR_DOMAIN_REBOOT_GUEST_AGENT = 2,
    VIR_DOMAIN_REBOOT_INITCTL = 4,
    VIR_DOMAIN_REBOOT_SIGNAL = 8,
    VIR_DOMAIN_REBOOT_PARAVIRT = 16,
} vir_domain_reboot_flags;

typedef enum {
    VIR_DOMAIN_DESTROY_DEFAULT = 0,
    VIR_DOMAIN_DESTROY_GRACEFUL = 1,
    VIR_DOMAIN_DESTROY_REMOVE_LOGS = 2,
} vir_domain_destroy_flags;

/* Defines (or redefines, keeping the UUID) a persistent domain. */
vir_domain *vir_domain_define_xml(vir_connect *conn, const char *xml, unsigned int flags,
                                  vir_error *err);
int vir_domain_undefine(vir_domain *dom, unsigned int flags, vir_error *err);
/* Starts a defined domain (flags: VIR_DOMAIN_START_PAUSED). */
int vir_domain_create(vir_domain *dom, unsigned int flags, vir_error *err);
/* Creates and starts a transient domain. */
vir_domain *vir_domain_create_xml(vir_connect *conn, const char *xml, unsigned int flags,
                                  vir_error *err);
int vir_domain_shutdown(vir_domain *dom, unsigned int flags, vir_error *err);
int vir_domain_destroy(vir_domain *dom, unsigned int flags, vir_error *err);
int vir_domain_reboot(vir_domain *dom, unsigned int flags, vir_error *err);
int vir_domain_reset(vir_domain *dom, unsigned int flags, vir_error *err);
int vir_domain_suspend(vir_domain *dom, vir_error *err);
int vir_domain_resume(vir_domain *dom, vir_error *err);

typedef enum {
    VIR_DOMAIN_SAVE_BYPASS_CACHE = 1 << 0,
    VIR_DOMAIN_SAVE_RUNNING = 1 << 1,
    VIR_DOMAIN_SAVE_PAUSED = 1 << 2,
} vir_domain_save_restore_flags;

typedef enum {
    VIR_DOMAIN_SAVE_IMAGE_XML_SECURE = 1 << 0, /* include security-sensitive information */
} vir_domain_save_image_xml_flags;

/* Saves a running domain's state to a file and stops it. */
int vir_domain_save(vir_domain *dom, const char *path, unsigned int flags, vir_error *err);
int vir_domain_restore(vir_connect *conn, const char *path, unsigned int flags, vir_error *err);
/* The same, with dxml (or NULL) the XML to store or run instead of the
 * domain's: it must describe the same machine. */
int vir_domain_save_flags(vir_domain *dom, const char *path, const char *dxml, unsigned int flags,
                          vir_error *err);
int vir_domain_restore_flags(vir_connect *conn, const char *path, const char *dxml,
                             unsigned int flags, vir_error *err);
/* A save image's domain XML (flags: vir_domain_save_image_xml_flags), and
 * its replacement in place (flags: VIR_DOMAIN_SAVE_RUNNING or _PAUSED
 * change what a restore does). */
char *vir_domain_save_image_get_xml_desc(vir_connect *conn, const char *path, unsigned int flags,
                                         vir_error *err);
int vir_domain_save_image_define_xml(vir_connect *conn, const char *path, const char *dxml,
                                     unsigned int flags, vir_error *err);
char *vir_domain_managed_save_get_xml_desc(vir_domain *dom, unsigned int flags, vir_error *err);
int vir_domain_managed_save_define_xml(vir_domain *dom, const char *dxml, unsigned int flags,
                                       vir_error *err);
/* Managed save: the driver keeps the file; the next start resumes from it. */
int vir_domain_managed_save(vir_domain *dom, unsigned int flags, vir_error *err);
int vir_domain_has_managed_save_image(vir_domain *dom, unsigned int flags, vir_error *err);
int vir_domain_managed_save_remove(vir_domain *dom, unsigned int flags, vir_error *err);
/* Marks a running domain as crashed (the test driver's stand-in for a guest panic). */
int vir_domain_inject_crash(vir_domain *dom, vir_error *err);

/* ---- snapshots (libvirt's virDomainSnapshot*) -------------------------- */

typedef struct vir_domain_snapshot vir_domain_snapshot;

typedef enum {
    VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE = 1 << 0,
    VIR_DOMAIN_SNAPSHOT_CREATE_CURRENT = 1 << 1,
    VIR_DOMAIN_SNAPSHOT_CREATE_NO_METADATA = 1 << 2,
    VIR_DOMAIN_SNAPSHOT_CREATE_HALT = 1 << 3,
    VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY = 1 << 4,
    VIR_DOMAIN_SNAPSHOT_CREATE_REUSE_EXT = 1 << 5,
    VIR_DOMAIN_SNAPSHOT_CREATE_QUIESCE = 1 << 6,
    VIR_DOMAIN_SNAPSHOT_CREATE_ATOMIC = 1 << 7,
    VIR_DOMAIN_SNAPSHOT_CREATE_LIVE = 1 << 8,
    VIR_DOMAIN_SNAPSHOT_CREATE_VALIDATE = 1 << 9,
} vir_domain_snapshot_create_flags;

typedef enum {
    VIR_DOMAIN_SNAPSHOT_LIST_ROOTS = 1 << 0,       /* listing a domain's: only roots */
    VIR_DOMAIN_SNAPSHOT_LIST_DESCENDANTS = 1 << 0, /* listing children: all descendants */
    VIR_DOMAIN_SNAPSHOT_LIST_METADATA = 1 << 1,
    VIR_DOMAIN_SNAPSHOT_LIST_LEAVES = 1 << 2,
    VIR_DOMAIN_SNAPSHOT_LIST_NO_LEAVES = 1 << 3,
    VIR_DOMAIN_SNAPSHOT_LIST_NO_METADATA = 1 << 4,
    VIR_DOMAIN_SNAPSHOT_LIST_INACTIVE = 1 << 5,
    VIR_DOMAIN_SNAPSHOT_LIST_ACTIVE = 1 << 6,
    VIR_DOMAIN_SNAPSHOT_LIST_DISK_ONLY = 1 << 7,
    VIR_DOMAIN_SNAPSHOT_LIST_INTERNAL = 1 << 8,
    VIR_DOMAIN_SNAPSHOT_LIST_EXTERNAL = 1 << 9,
    VIR_DOMAIN_SNAPSHOT_LIST_TOPOLOGICAL = 1 << 10,
} vir_domain_snapshot_list_flags;

typedef enum {
    VIR_DOMAIN_SNAPSHOT_REVERT_RUNNING = 1 << 0,
    VIR_DOMAIN_SNAPSHOT_REVERT_PAUSED = 1 << 1,
    VIR_DOMAIN_SNAPSHOT_REVERT_FORCE = 1 << 2,
    VIR_DOMAIN_SNAPSHOT_REVERT_RESET_NVRAM = 1 << 3,
} vir_domain_snapshot_revert_flags;

typedef enum {
    VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN = 1 << 0,
    VIR_DOMAIN_SNAPSHOT_DELETE_METADATA_ONLY = 1 << 1,
    VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN_ONLY = 1 << 2,
} vir_domain_snapshot_delete_flags;

typedef enum {
    VIR_DOMAIN_SNAPSHOT_XML_SECURE = 1 << 0,
} vir_domain_snapshot_xml_flags;

/* Takes a snapshot described by xml (<domainsnapshot>; "" or NULL for the
 * defaults); the new snapshot's handle, or NULL. */
vir_domain_snapshot *vir_domain_snapshot_create_xml(vir_domain *dom, const char *xml,
                                                    unsigned int flags, vir_error *err);
/* The domain's snapshots (flags: vir_domain_snapshot_list_flags), as
 * handles in *snaps (free each, and the array); the count, or -1. snaps may
 * be NULL for the count alone. */
int vir_domain_list_all_snapshots(vir_domain *dom, vir_domain_snapshot ***snaps, unsigned int flags,
                                  vir_error *err);
int vir_domain_snapshot_list_all_children(vir_domain_snapshot *snap, vir_domain_snapshot ***snaps,
                                          unsigned int flags, vir_error *err);
int vir_domain_snapshot_num(vir_domain *dom, unsigned int flags, vir_error *err);
vir_domain_snapshot *vir_domain_snapshot_lookup_by_name(vir_domain *dom, const char *name,
                                                        unsigned int flags, vir_error *err);
int vir_domain_has_current_snapshot(vir_domain *dom, unsigned int flags, vir_error *err);
vir_domain_snapshot *vir_domain_snapshot_current(vir_domain *dom, unsigned int flags,
                                                 vir_error *err);
vir_domain_snapshot *vir_domain_snapshot_get_parent(vir_domain_snapshot *snap, unsigned int flags,
                                                    vir_error *err);
char *vir_domain_snapshot_get_xml_desc(vir_domain_snapshot *snap, unsigned int flags,
                                       vir_error *err);
int vir_domain_snapshot_is_current(vir_domain_snapshot *snap, unsigned int flags, vir_error *err);
int vir_domain_snapshot_has_metadata(vir_domain_snapshot *snap, unsigned int flags, vir_error *err);
int vir_domain_revert_to_snapshot(vir_domain_snapshot *snap, unsigned int flags, vir_error *err);
int vir_domain_snapshot_delete(vir_domain_snapshot *snap, unsigned int flags, vir_error *err);
const char *vir_domain_snapshot_get_name(const vir_domain_snapshot *snap);
/* The domain the snapshot belongs to (the handle's own reference). */
vir_domain *vir_domain_snapshot_get_domain(const vir_domain_snapshot *snap);
void vir_domain_snapshot_free(vir_domain_snapshot *snap);

/* ---- state and description -------------------------------------------- */

int vir_domain_get_info(vir_domain *dom, vir_domain_info *info, vir_error *err);
int vir_domain_get_state(vir_domain *dom, int *state, int *reason, unsigned int flags,
                         vir_error *err);
/* 1 if running or paused, 0 if not, -1 on error. */
int vir_domain_is_active(vir_domain *dom, vir_error *err);
int vir_domain_is_persistent(vir_domain *dom, vir_error *err);

typedef enum {
    VIR_DOMAIN_XML_SECURE = 1 << 0,
    VIR_DOMAIN_XML_INACTIVE = 1 << 1,
    VIR_DOMAIN_XML_UPDATE_CPU = 1 << 2,
    VIR_DOMAIN_XML_MIGRATABLE = 1 << 3,
} vir_domain_xml_flags;

char *vir_domain_get_xml_desc(vir_domain *dom, unsigned int flags, vir_error *err);

int vir_domain_get_autostart(vir_domain *dom, int *autostart, vir_error *err);
int vir_domain_set_autostart(vir_domain *dom, int autostart, vir_error *err);

/* Security label, as dominfo shows it. */
typedef struct vir_security_label {
    char label[4097];
    int enforcing;
} vir_security_label;
typedef struct vir_security_model {
    char model[257];
    char doi[257];
} vir_security_model;
int vir_node_get_security_model(vir_connect *conn, vir_security_model *model, vir_error *err);
int vir_domain_get_security_label(vir_domain *dom, vir_security_label *label, vir_error *err);

/* ---- vCPUs, pinning, memory, scheduler -------------------------------- */

/* libvirt's virDomainModificationImpact and vCPU flags */
typedef enum {
    VIR_DOMAIN_AFFECT_CURRENT = 0,
    VIR_DOMAIN_AFFECT_LIVE = 1 << 0,
    VIR_DOMAIN_AFFECT_CONFIG = 1 << 1,
} vir_domain_modification_impact;

/* libvirt's virDomainDeviceModifyFlags (virDomainUpdateDeviceFlags) */
typedef enum {
    VIR_DOMAIN_DEVICE_MODIFY_CURRENT = VIR_DOMAIN_AFFECT_CURRENT,
    VIR_DOMAIN_DEVICE_MODIFY_LIVE = VIR_DOMAIN_AFFECT_LIVE,
    VIR_DOMAIN_DEVICE_MODIFY_CONFIG = VIR_DOMAIN_AFFECT_CONFIG,
    VIR_DOMAIN_DEVICE_MODIFY_FORCE = 1 << 2,
} vir_domain_device_modify_flags;

typedef enum {
    VIR_DOMAIN_VCPU_CURRENT = VIR_DOMAIN_AFFECT_CURRENT,
    VIR_DOMAIN_VCPU_LIVE = VIR_DOMAIN_AFFECT_LIVE,
    VIR_DOMAIN_VCPU_CONFIG = VIR_DOMAIN_AFFECT_CONFIG,
    VIR_DOMAIN_VCPU_MAXIMUM = 1 << 2,
    VIR_DOMAIN_VCPU_GUEST = 1 << 3,
    VIR_DOMAIN_VCPU_HOTPLUGGABLE = 1 << 4,
} vir_domain_vcpu_flags;

typedef enum {
    VIR_DOMAIN_MEM_CURRENT = VIR_DOMAIN_AFFECT_CURRENT,
    VIR_DOMAIN_MEM_LIVE = VIR_DOMAIN_AFFECT_LIVE,
    VIR_DOMAIN_MEM_CONFIG = VIR_DOMAIN_AFFECT_CONFIG,
    VIR_DOMAIN_MEM_MAXIMUM = 1 << 2,
} vir_domain_memory_mod_flags;

/* The vCPU count for the chosen definition (live or config), or -1. */
int vir_domain_get_vcpus_flags(vir_domain *dom, unsigned int flags, vir_error *err);
int vir_domain_set_vcpus_flags(vir_domain *dom, unsigned int nvcpus, unsigned int flags,
                               vir_error *err);
/* The running domain's vCPU count (virDomainSetVcpus: the live definition only). */
int vir_domain_set_vcpus(vir_domain *dom, unsigned int nvcpus, vir_error *err);

typedef enum {
    VIR_VCPU_OFFLINE = 0,
    VIR_VCPU_RUNNING = 1,
    VIR_VCPU_BLOCKED = 2,
} vir_vcpu_state;

typedef struct vir_vcpu_info {
    unsigned int number;
    int state;                   /* vir_vcpu_state */
    unsigned long long cpu_time; /* ns */
    int cpu;                     /* host CPU it last ran on */
} vir_vcpu_info;

/*
 * Live vCPU information for a running domain: up to maxinfo entries in info
 * and, when cpumaps is not NULL, maplen bytes of affinity bitmap per vCPU
 * (bit i of byte i/8 = host CPU i). Returns the number of entries or -1.
 */
int vir_domain_get_vcpus(vir_domain *dom, vir_vcpu_info *info, int maxinfo, unsigned char *cpumaps,
                         int maplen, vir_error *err);
/* Pinning of each vCPU from the live or config definition; returns count or -1. */
int vir_domain_get_vcpu_pin_info(vir_domain *dom, int ncpumaps, unsigned char *cpumaps, int maplen,
                                 unsigned int flags, vir_error *err);
int vir_domain_pin_vcpu_flags(vir_domain *dom, unsigned int vcpu, const unsigned char *cpumap,
                              int maplen, unsigned int flags, vir_error *err);
/* Pins a vCPU of the running domain (virDomainPinVcpu: live only). */
int vir_domain_pin_vcpu(vir_domain *dom, unsigned int vcpu, const unsigned char *cpumap, int maplen,
                        vir_error *err);
/* Returns 1 (one emulator map) or -1. */
int vir_domain_get_emulator_pin_info(vir_domain *dom, unsigned char *cpumap, int maplen,
                                     unsigned int flags, vir_error *err);
int vir_domain_pin_emulator(vir_domain *dom, const unsigned char *cpumap, int maplen,
                            unsigned int flags, vir_error *err);
/* One I/O thread's pinning (virDomainIOThreadInfo): its id and a cpumap of cpumaplen
 * bytes. */
typedef struct vir_iothread_info {
    unsigned int iothread_id;
    unsigned char *cpumap;
    int cpumaplen;
} vir_iothread_info;
/* The domain's I/O threads (virDomainGetIOThreadInfo): *info gets an array of the returned
 * count (free with vir_iothread_info_free on each, then free()); returns the count or -1. */
int vir_domain_get_iothread_info(vir_domain *dom, vir_iothread_info ***info, unsigned int flags,
                                 vir_error *err);
void vir_iothread_info_free(vir_iothread_info *info);
/* virDomainAddIOThread, virDomainDelIOThread (virDomainSetIOThreadParams is with the typed
 * parameters below). */
int vir_domain_add_iothread(vir_domain *dom, unsigned int iothread_id, unsigned int flags,
                            vir_error *err);
int vir_domain_del_iothread(vir_domain *dom, unsigned int iothread_id, unsigned int flags,
                            vir_error *err);
/* Pins I/O thread iothread_id (virDomainPinIOThread). */
int vir_domain_pin_iothread(vir_domain *dom, unsigned int iothread_id, const unsigned char *cpumap,
                            int maplen, unsigned int flags, vir_error *err);
/* Host CPUs the driver knows of (for sizing cpumaps). */
int vir_node_get_cpu_count(vir_connect *conn, vir_error *err);

/* The host's figures (virNodeGetCellsFreeMemory, virNodeGetFreeMemory, virNodeGetMemoryStats,
 * virNodeGetCPUStats, virNodeGetCPUMap). */
#define VIR_NODE_CPU_STATS_ALL_CPUS     (-1)
#define VIR_NODE_MEMORY_STATS_ALL_CELLS (-1)
typedef struct vir_node_stats_param {
    char field[80];
    unsigned long long value;
} vir_node_stats_param;
/* Free bytes of cells start..start+max-1 into free_mems; how many, or -1. */
int vir_node_get_cells_free_memory(vir_connect *conn, unsigned long long *free_mems, int start,
                                   int max, vir_error *err);
/* Free bytes of the host, 0 on error. */
unsigned long long vir_node_get_free_memory(vir_connect *conn, vir_error *err);
/* KiB figures of cell (or every cell); with *nparams 0, sets it to how many there are. */
int vir_node_get_memory_stats(vir_connect *conn, int cell, vir_node_stats_param *params,
                              int *nparams, unsigned int flags, vir_error *err);
/* ns figures of cpu (or every CPU); with *nparams 0, sets it to how many there are. */
int vir_node_get_cpu_stats(vir_connect *conn, int cpu, vir_node_stats_param *params, int *nparams,
                           unsigned int flags, vir_error *err);
/* The CPUs present (the return), the online ones as a map (malloc'd, when map is given) and
 * their count (when online is given). */
int vir_node_get_cpu_map(vir_connect *conn, unsigned char **map, unsigned int *online,
                         unsigned int flags, vir_error *err);

/* Memory in KiB; flags vir_domain_memory_mod_flags. */
int vir_domain_set_memory_flags(vir_domain *dom, unsigned long memory_kib, unsigned int flags,
                                vir_error *err);
int vir_domain_set_max_memory(vir_domain *dom, unsigned long memory_kib, vir_error *err);

/* virDomainUpdateDeviceFlags: change a device in place (vireod: a CD-ROM's medium, the
 * <disk> element with or without <source>); flags vir_domain_device_modify_flags. */
int vir_domain_update_device_flags(vir_domain *dom, const char *xml, unsigned int flags,
                                   vir_error *err);
/* virDomainAttachDevice(Flags) / DetachDevice(Flags): a <disk> or <interface> added to or
 * removed from the running domain (VIR_DOMAIN_AFFECT_LIVE), its persistent definition
 * (AFFECT_CONFIG), or both; the plain forms are AFFECT_LIVE. */
int vir_domain_attach_device(vir_domain *dom, const char *xml, vir_error *err);
int vir_domain_attach_device_flags(vir_domain *dom, const char *xml, unsigned int flags,
                                   vir_error *err);
int vir_domain_detach_device(vir_domain *dom, const char *xml, vir_error *err);
int vir_domain_detach_device_flags(vir_domain *dom, const char *xml, unsigned int flags,
                                   vir_error *err);
/* virDomainDetachDeviceAlias: the device with that alias (virtio-disk1, net0, ua-...); the
 * live removal is not waited for. */
int vir_domain_detach_device_alias(vir_domain *dom, const char *alias, unsigned int flags,
                                   vir_error *err);

typedef enum {
    VIR_TYPED_PARAM_INT = 1,
    VIR_TYPED_PARAM_UINT = 2,
    VIR_TYPED_PARAM_LLONG = 3,
    VIR_TYPED_PARAM_ULLONG = 4,
    VIR_TYPED_PARAM_DOUBLE = 5,
    VIR_TYPED_PARAM_BOOLEAN = 6,
    VIR_TYPED_PARAM_STRING = 7,
} vir_typed_parameter_type;

#define VIR_TYPED_PARAM_FIELD_LENGTH 80
typedef struct vir_typed_parameter {
    char field[VIR_TYPED_PARAM_FIELD_LENGTH];
    int type;
    union {
        int i;
        unsigned int ui;
        long long int l;
        unsigned long long int ul;
        double d;
        char b;
        char *s;
    } value;
} vir_typed_parameter;

/* The scheduler's name (malloc'd) and its parameter count. */
char *vir_domain_get_scheduler_type(vir_domain *dom, int *nparams, vir_error *err);
/* Fills up to *nparams parameters; sets *nparams to how many. */
int vir_domain_get_scheduler_parameters_flags(vir_domain *dom, vir_typed_parameter *params,
                                              int *nparams, unsigned int flags, vir_error *err);
int vir_domain_set_scheduler_parameters_flags(vir_domain *dom, const vir_typed_parameter *params,
                                              int nparams, unsigned int flags, vir_error *err);

/* memtune: hard_limit, soft_limit, swap_hard_limit in KiB (virDomainGetMemoryParameters);
 * with *nparams 0, sets it to how many there are. */
#define VIR_DOMAIN_MEMORY_PARAM_UNLIMITED 9007199254740991LL
int vir_domain_get_memory_parameters(vir_domain *dom, vir_typed_parameter *params, int *nparams,
                                     unsigned int flags, vir_error *err);
/* A disk's I/O counters (virDomainBlockStatsFlags): path is its target or source ("" for every
 * disk summed); *nparams 0 asks for the count. */
int vir_domain_block_stats_flags(vir_domain *dom, const char *path, vir_typed_parameter *params,
                                 int *nparams, unsigned int flags, vir_error *err);
int vir_domain_set_memory_parameters(vir_domain *dom, const vir_typed_parameter *params,
                                     int nparams, unsigned int flags, vir_error *err);

/* blkiotune: weight (uint) and device_weight, device_read_iops_sec, device_write_iops_sec,
 * device_read_bytes_sec, device_write_bytes_sec (strings "path,value,...", malloc'd: the
 * caller frees them) (virDomainGetBlkioParameters); *nparams 0 asks for the count. */
int vir_domain_get_blkio_parameters(vir_domain *dom, vir_typed_parameter *params, int *nparams,
                                    unsigned int flags, vir_error *err);
int vir_domain_set_blkio_parameters(vir_domain *dom, const vir_typed_parameter *params, int nparams,
                                    unsigned int flags, vir_error *err);

/* numatune: numa_mode (int: strict 0, preferred 1, interleave 2, restrictive 3) and
 * numa_nodeset (a string, malloc'd: the caller frees it). With *nparams 0, sets it to how
 * many there are. */
int vir_domain_get_numa_parameters(vir_domain *dom, vir_typed_parameter *params, int *nparams,
                                   unsigned int flags, vir_error *err);
int vir_domain_set_numa_parameters(vir_domain *dom, const vir_typed_parameter *params, int nparams,
                                   unsigned int flags, vir_error *err);
/* virDomainGet/SetInterfaceParameters: an interface's bandwidth (device: its
 * MAC address or host device name), libvirt's inbound.* and outbound.*
 * parameters (VIR_TYPED_PARAM_UINT; an average of 0 removes the direction). */
int vir_domain_get_interface_parameters(vir_domain *dom, const char *device,
                                        vir_typed_parameter *params, int *nparams,
                                        unsigned int flags, vir_error *err);
int vir_domain_set_interface_parameters(vir_domain *dom, const char *device,
                                        const vir_typed_parameter *params, int nparams,
                                        unsigned int flags, vir_error *err);

/* iothreadset: "poll_max_ns" (ullong), "poll_grow" and "poll_shrink" (uint) of a running I/O
 * thread (virDomainSetIOThreadParams). */
int vir_domain_set_iothread_params(vir_domain *dom, unsigned int iothread_id,
                                   const vir_typed_parameter *params, int nparams,
                                   unsigned int flags, vir_error *err);

/* blkdeviotune: a disk's I/O limits (virDomainGet/SetBlockIoTune), libvirt's twenty parameters
 * (group_name a string, malloc'd: the caller frees it; the others unsigned long long). disk is
 * its target or source path; with *nparams 0, sets it to how many there are. */
int vir_domain_get_block_io_tune(vir_domain *dom, const char *disk, vir_typed_parameter *params,
                                 int *nparams, unsigned int flags, vir_error *err);
int vir_domain_set_block_io_tune(vir_domain *dom, const char *disk,
                                 const vir_typed_parameter *params, int nparams, unsigned int flags,
                                 vir_error *err);

/* Block jobs (virDomainBlockCopy, virDomainBlockJob*): libvirt's values. */
typedef enum {
    VIR_DOMAIN_BLOCK_JOB_TYPE_UNKNOWN = 0,
    VIR_DOMAIN_BLOCK_JOB_TYPE_PULL = 1,
    VIR_DOMAIN_BLOCK_JOB_TYPE_COPY = 2,
    VIR_DOMAIN_BLOCK_JOB_TYPE_COMMIT = 3,
    VIR_DOMAIN_BLOCK_JOB_TYPE_ACTIVE_COMMIT = 4,
    VIR_DOMAIN_BLOCK_JOB_TYPE_BACKUP = 5,
} vir_domain_block_job_type;
typedef enum {
    VIR_DOMAIN_BLOCK_JOB_COMPLETED = 0,
    VIR_DOMAIN_BLOCK_JOB_FAILED = 1,
    VIR_DOMAIN_BLOCK_JOB_CANCELED = 2,
    VIR_DOMAIN_BLOCK_JOB_READY = 3,
} vir_connect_domain_event_block_job_status;
#define VIR_DOMAIN_BLOCK_JOB_ABORT_ASYNC           (1u << 0)
#define VIR_DOMAIN_BLOCK_JOB_ABORT_PIVOT           (1u << 1)
#define VIR_DOMAIN_BLOCK_JOB_INFO_BANDWIDTH_BYTES  (1u << 0)
#define VIR_DOMAIN_BLOCK_JOB_SPEED_BANDWIDTH_BYTES (1u << 0)
#define VIR_DOMAIN_BLOCK_COPY_SHALLOW              (1u << 0)
#define VIR_DOMAIN_BLOCK_COPY_REUSE_EXT            (1u << 1)
#define VIR_DOMAIN_BLOCK_COPY_TRANSIENT_JOB        (1u << 2)
#define VIR_DOMAIN_BLOCK_COPY_SYNCHRONOUS_WRITES   (1u << 3)
#define VIR_DOMAIN_BLOCK_REBASE_SHALLOW            (1u << 0)
#define VIR_DOMAIN_BLOCK_REBASE_REUSE_EXT          (1u << 1)
#define VIR_DOMAIN_BLOCK_REBASE_COPY_RAW           (1u << 2)
#define VIR_DOMAIN_BLOCK_REBASE_COPY               (1u << 3)
#define VIR_DOMAIN_BLOCK_REBASE_RELATIVE           (1u << 4)
#define VIR_DOMAIN_BLOCK_REBASE_COPY_DEV           (1u << 5)
#define VIR_DOMAIN_BLOCK_REBASE_BANDWIDTH_BYTES    (1u << 6)
#define VIR_DOMAIN_BLOCK_COPY_BANDWIDTH            "bandwidth"
#define VIR_DOMAIN_BLOCK_COPY_GRANULARITY          "granularity"
#define VIR_DOMAIN_BLOCK_COPY_BUF_SIZE             "buf-size"

/* A block job's progress (virDomainBlockJobInfo): bandwidth in MiB/s, or bytes/s with
 * VIR_DOMAIN_BLOCK_JOB_INFO_BANDWIDTH_BYTES. */
typedef struct {
    int type; /* vir_domain_block_job_type */
    unsigned long bandwidth;
    unsigned long long cur, end;
} vir_domain_block_job_info;

/* virDomainBlockCopy: disk (target or source path) copied into destxml's <disk type='file'>
 * (params: bandwidth, granularity, buf-size). */
int vir_domain_block_copy(vir_domain *dom, const char *disk, const char *destxml,
                          const vir_typed_parameter *params, int nparams, unsigned int flags,
                          vir_error *err);
/* virDomainBlockRebase (its copy form: VIR_DOMAIN_BLOCK_REBASE_COPY, base the destination). */
int vir_domain_block_rebase(vir_domain *dom, const char *disk, const char *base,
                            unsigned long bandwidth, unsigned int flags, vir_error *err);
/* 1 and *info filled when disk has a job, 0 when it has none, -1 on error. */
int vir_domain_get_block_job_info(vir_domain *dom, const char *disk,
                                  vir_domain_block_job_info *info, unsigned int flags,
                                  vir_error *err);
int vir_domain_block_job_abort(vir_domain *dom, const char *disk, unsigned int flags,
                               vir_error *err);
int vir_domain_block_job_set_speed(vir_domain *dom, const char *disk, unsigned long bandwidth,
                                   unsigned int flags, vir_error *err);

/* libvirt's virDomainMemoryStatTags */
typedef enum {
    VIR_DOMAIN_MEMORY_STAT_SWAP_IN = 0,
    VIR_DOMAIN_MEMORY_STAT_SWAP_OUT = 1,
    VIR_DOMAIN_MEMORY_STAT_MAJOR_FAULT = 2,
    VIR_DOMAIN_MEMORY_STAT_MINOR_FAULT = 3,
    VIR_DOMAIN_MEMORY_STAT_UNUSED = 4,
    VIR_DOMAIN_MEMORY_STAT_AVAILABLE = 5,
    VIR_DOMAIN_MEMORY_STAT_ACTUAL_BALLOON = 6,
    VIR_DOMAIN_MEMORY_STAT_RSS = 7,
    VIR_DOMAIN_MEMORY_STAT_USABLE = 8,
    VIR_DOMAIN_MEMORY_STAT_LAST_UPDATE = 9,
    VIR_DOMAIN_MEMORY_STAT_DISK_CACHES = 10,
    VIR_DOMAIN_MEMORY_STAT_HUGETLB_PGALLOC = 11,
    VIR_DOMAIN_MEMORY_STAT_HUGETLB_PGFAIL = 12,
    VIR_DOMAIN_MEMORY_STAT_NR = 13,
} vir_domain_memory_stat_tags;

typedef struct vir_domain_memory_stat {
    int tag;
    unsigned long long val;
} vir_domain_memory_stat;

int vir_domain_memory_stats(vir_domain *dom, vir_domain_memory_stat *stats, unsigned int nr_stats,
                            unsigned int flags, vir_error *err);
/* virDomainSetMemoryStatsPeriod: how often (seconds, 0 never) the balloon asks the guest. */
int vir_domain_set_memory_stats_period(vir_domain *dom, int period, unsigned int flags,
                                       vir_error *err);

/* virDomainGetCPUStats: start_cpu -1 for the totals (cpu_time, user_time, system_time), else
 * ncpus host CPUs from start_cpu, nparams slots each (cpu_time, vcpu_time); with nparams 0
 * the number of parameters (per CPU, or of the totals), with ncpus 0 the host's CPU count.
 * Returns the parameters filled per CPU. */
int vir_domain_get_cpu_stats(vir_domain *dom, vir_typed_parameter *params, unsigned int nparams,
                             int start_cpu, unsigned int ncpus, unsigned int flags, vir_error *err);

/* virDomainGetTime / virDomainSetTime: the guest's clock, through its agent; flags of the set:
 * VIR_DOMAIN_TIME_SYNC (the agent reads the guest's RTC instead). */
#define VIR_DOMAIN_TIME_SYNC (1u << 0)
int vir_domain_get_time(vir_domain *dom, long long *seconds, unsigned int *nseconds,
                        unsigned int flags, vir_error *err);
int vir_domain_set_time(vir_domain *dom, long long seconds, unsigned int nseconds,
                        unsigned int flags, vir_error *err);

/* virDomainFSFreeze / virDomainFSThaw: the guest's file systems (all, or the mountpoints
 * given) frozen or thawed through its agent; returns how many, or -1. flags must be 0. */
int vir_domain_fs_freeze(vir_domain *dom, const char **mountpoints, unsigned int nmountpoints,
                         unsigned int flags, vir_error *err);
int vir_domain_fs_thaw(vir_domain *dom, const char **mountpoints, unsigned int nmountpoints,
                       unsigned int flags, vir_error *err);

/* virDomainGetFSInfo: one entry per file system mounted in the guest, from its agent. */
typedef struct {
    char *mountpoint; /* where it is mounted in the guest */
    char *name;       /* the guest's device name (sda1, dm-0...) */
    char *fstype;     /* ext4, xfs, ... */
    unsigned int ndev_alias;
    char **dev_alias; /* the domain's disk targets (vda...) it lives on */
} vir_domain_fs_info;

/* Free each with vir_domain_fs_info_free and the array with free(). Returns the count or -1;
 * flags must be 0. */
int vir_domain_get_fs_info(vir_domain *dom, vir_domain_fs_info ***info, unsigned int flags,
                           vir_error *err);
void vir_domain_fs_info_free(vir_domain_fs_info *info);

/* virDomainGetGuestInfo: what the guest agent says about the guest, as typed parameters
 * (user.*, os.*, timezone.*, hostname, fs.*, disk.*, if.*). types 0 asks for every category
 * the agent has; otherwise for these, each of which must be answered. */
typedef enum {
    VIR_DOMAIN_GUEST_INFO_USERS = 1 << 0,
    VIR_DOMAIN_GUEST_INFO_OS = 1 << 1,
    VIR_DOMAIN_GUEST_INFO_TIMEZONE = 1 << 2,
    VIR_DOMAIN_GUEST_INFO_HOSTNAME = 1 << 3,
    VIR_DOMAIN_GUEST_INFO_FILESYSTEM = 1 << 4,
    VIR_DOMAIN_GUEST_INFO_DISKS = 1 << 5,
    VIR_DOMAIN_GUEST_INFO_INTERFACES = 1 << 6,
} vir_domain_guest_info_types;
/* virDomainGetGuestVcpus: the guest's vCPUs as its agent sees them, three string parameters
 * (vcpus, online, offlinable: cpulists). *params is malloc'd (vir_typed_params_free). */
int vir_domain_get_guest_vcpus(vir_domain *dom, vir_typed_parameter **params, int *nparams,
                               unsigned int flags, vir_error *err);
/* virDomainSetGuestVcpus: the vCPUs in cpumap (a cpulist) online (state 1) or offline (0). */
int vir_domain_set_guest_vcpus(vir_domain *dom, const char *cpumap, int state, unsigned int flags,
                               vir_error *err);
/* virDomainSetVcpu: the hotpluggable vCPUs in cpumap (a cpulist) enabled (state 1) or
 * disabled (0); flags VIR_DOMAIN_AFFECT_*. */
int vir_domain_set_vcpu(vir_domain *dom, const char *cpumap, int state, unsigned int flags,
                        vir_error *err);
/* *params is malloc'd (free it with vir_typed_params_free). flags must be 0. */
int vir_domain_get_guest_info(vir_domain *dom, unsigned int types, vir_typed_parameter **params,
                              int *nparams, unsigned int flags, vir_error *err);

/* virDomainSetUserPassword: the guest user's password set through its agent; with
 * VIR_DOMAIN_PASSWORD_ENCRYPTED the password is already crypted. 0 or -1. */
enum { VIR_DOMAIN_PASSWORD_ENCRYPTED = 1 << 0 };
int vir_domain_set_user_password(vir_domain *dom, const char *user, const char *password,
                                 unsigned int flags, vir_error *err);

/* virDomainQemuAgentCommand (libvirt-qemu): a guest agent command as JSON; timeout in
 * seconds or one of these. Returns the agent's reply as JSON (malloc'd; NULL with err set on
 * failure, or with err clear for _NOWAIT). flags must be 0. */
#define VIR_DOMAIN_QEMU_AGENT_COMMAND_BLOCK   (-2)
#define VIR_DOMAIN_QEMU_AGENT_COMMAND_DEFAULT (-1)
#define VIR_DOMAIN_QEMU_AGENT_COMMAND_NOWAIT  0
char *vir_domain_qemu_agent_command(vir_domain *dom, const char *cmd, int timeout,
                                    unsigned int flags, vir_error *err);

/* virDomainQemuMonitorCommand (libvirt-qemu): a QMP command as JSON, or with
 * VIR_DOMAIN_QEMU_MONITOR_COMMAND_HMP a human monitor line, sent to the running domain's
 * monitor; its reply (QMP's JSON, errors included, or HMP's text) in *result (malloc'd).
 * 0 or -1. */
enum { VIR_DOMAIN_QEMU_MONITOR_COMMAND_HMP = 1 << 0 };
int vir_domain_qemu_monitor_command(vir_domain *dom, const char *cmd, char **result,
                                    unsigned int flags, vir_error *err);

/* virDomainGetBlockInfo: a disk (target or source path) in bytes. */
typedef struct vir_domain_block_info {
    unsigned long long capacity, allocation, physical;
} vir_domain_block_info;
int vir_domain_get_block_info(vir_domain *dom, const char *disk, vir_domain_block_info *info,
                              unsigned int flags, vir_error *err);

/* virDomainGetDiskErrors: with maxerrors 0 the number of disks that could report one; else
 * the disks in error (disk malloc'd: the caller frees it). */
typedef enum {
    VIR_DOMAIN_DISK_ERROR_NONE = 0,
    VIR_DOMAIN_DISK_ERROR_UNSPEC = 1,
    VIR_DOMAIN_DISK_ERROR_NO_SPACE = 2,
} vir_domain_disk_error_code;
typedef struct vir_domain_disk_error {
    char *disk;
    int error;
} vir_domain_disk_error;
int vir_domain_get_disk_errors(vir_domain *dom, vir_domain_disk_error *errors,
                               unsigned int maxerrors, unsigned int flags, vir_error *err);

/* virDomainInterfaceStats: an interface (host device name or MAC) as the guest sees it. */
typedef struct vir_domain_interface_stats_struct {
    long long rx_bytes, rx_packets, rx_errs, rx_drop;
    long long tx_bytes, tx_packets, tx_errs, tx_drop;
} vir_domain_interface_stats_struct;
int vir_domain_interface_stats(vir_domain *dom, const char *device,
                               vir_domain_interface_stats_struct *st, vir_error *err);

/* virConnectGetAllDomainStats / virDomainListGetStats: one record per domain, its groups'
 * typed parameters (libvirt's names). The list ends with NULL; free it with
 * vir_domain_stats_record_list_free. */
typedef enum {
    VIR_DOMAIN_STATS_STATE = 1 << 0,
    VIR_DOMAIN_STATS_CPU_TOTAL = 1 << 1,
    VIR_DOMAIN_STATS_BALLOON = 1 << 2,
    VIR_DOMAIN_STATS_VCPU = 1 << 3,
    VIR_DOMAIN_STATS_INTERFACE = 1 << 4,
    VIR_DOMAIN_STATS_BLOCK = 1 << 5,
    VIR_DOMAIN_STATS_PERF = 1 << 6,
    VIR_DOMAIN_STATS_IOTHREAD = 1 << 7,
    VIR_DOMAIN_STATS_MEMORY = 1 << 8,
    VIR_DOMAIN_STATS_DIRTYRATE = 1 << 9,
    VIR_DOMAIN_STATS_VM = 1 << 10,
} vir_domain_stats_types;

typedef enum {
    VIR_CONNECT_GET_ALL_DOMAINS_STATS_ACTIVE = 1 << 0,
    VIR_CONNECT_GET_ALL_DOMAINS_STATS_INACTIVE = 1 << 1,
    VIR_CONNECT_GET_ALL_DOMAINS_STATS_PERSISTENT = 1 << 2,
    VIR_CONNECT_GET_ALL_DOMAINS_STATS_TRANSIENT = 1 << 3,
    VIR_CONNECT_GET_ALL_DOMAINS_STATS_RUNNING = 1 << 4,
    VIR_CONNECT_GET_ALL_DOMAINS_STATS_PAUSED = 1 << 5,
    VIR_CONNECT_GET_ALL_DOMAINS_STATS_SHUTOFF = 1 << 6,
    VIR_CONNECT_GET_ALL_DOMAINS_STATS_OTHER = 1 << 7,
    VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT = 1 << 29,
    VIR_CONNECT_GET_ALL_DOMAINS_STATS_BACKING = 1 << 30,
    VIR_CONNECT_GET_ALL_DOMAINS_STATS_ENFORCE_STATS = 1u << 31,
} vir_connect_get_all_domain_stats_flags;

typedef struct vir_domain_stats_record {
    vir_domain *dom;
    vir_typed_parameter *params;
    int nparams;
} vir_domain_stats_record;

int vir_connect_get_all_domain_stats(vir_connect *conn, unsigned int stats,
                                     vir_domain_stats_record ***ret, unsigned int flags,
                                     vir_error *err);
/* doms ends with NULL; every domain must belong to one connection. */
int vir_domain_list_get_stats(vir_domain **doms, unsigned int stats, vir_domain_stats_record ***ret,
                              unsigned int flags, vir_error *err);
void vir_domain_stats_record_list_free(vir_domain_stats_record **records);

/* ---- events ------------------------------------------------------------ */

typedef enum {
    VIR_DOMAIN_EVENT_DEFINED = 0,
    VIR_DOMAIN_EVENT_UNDEFINED = 1,
    VIR_DOMAIN_EVENT_STARTED = 2,
    VIR_DOMAIN_EVENT_SUSPENDED = 3,
    VIR_DOMAIN_EVENT_RESUMED = 4,
    VIR_DOMAIN_EVENT_STOPPED = 5,
    VIR_DOMAIN_EVENT_SHUTDOWN = 6,
    VIR_DOMAIN_EVENT_PMSUSPENDED = 7,
    VIR_DOMAIN_EVENT_CRASHED = 8,
} vir_domain_event_type;

/* Each event's details (libvirt's virDomainEvent*DetailType). */
typedef enum {
    VIR_DOMAIN_EVENT_DEFINED_ADDED = 0,
    VIR_DOMAIN_EVENT_DEFINED_UPDATED = 1,
    VIR_DOMAIN_EVENT_DEFINED_RENAMED = 2,
    VIR_DOMAIN_EVENT_DEFINED_FROM_SNAPSHOT = 3,
} vir_domain_event_defined_detail;

typedef enum {
    VIR_DOMAIN_EVENT_UNDEFINED_REMOVED = 0,
    VIR_DOMAIN_EVENT_UNDEFINED_RENAMED = 1,
} vir_domain_event_undefined_detail;

typedef enum {
    VIR_DOMAIN_EVENT_STARTED_BOOTED = 0,
    VIR_DOMAIN_EVENT_STARTED_MIGRATED = 1,
    VIR_DOMAIN_EVENT_STARTED_RESTORED = 2,
    VIR_DOMAIN_EVENT_STARTED_FROM_SNAPSHOT = 3,
    VIR_DOMAIN_EVENT_STARTED_WAKEUP = 4,
} vir_domain_event_started_detail;

typedef enum {
    VIR_DOMAIN_EVENT_SUSPENDED_PAUSED = 0,
    VIR_DOMAIN_EVENT_SUSPENDED_MIGRATED = 1,
    VIR_DOMAIN_EVENT_SUSPENDED_IOERROR = 2,
    VIR_DOMAIN_EVENT_SUSPENDED_WATCHDOG = 3,
    VIR_DOMAIN_EVENT_SUSPENDED_RESTORED = 4,
    VIR_DOMAIN_EVENT_SUSPENDED_FROM_SNAPSHOT = 5,
    VIR_DOMAIN_EVENT_SUSPENDED_API_ERROR = 6,
    VIR_DOMAIN_EVENT_SUSPENDED_POSTCOPY = 7,
    VIR_DOMAIN_EVENT_SUSPENDED_POSTCOPY_FAILED = 8,
} vir_domain_event_suspended_detail;

typedef enum {
    VIR_DOMAIN_EVENT_RESUMED_UNPAUSED = 0,
    VIR_DOMAIN_EVENT_RESUMED_MIGRATED = 1,
    VIR_DOMAIN_EVENT_RESUMED_FROM_SNAPSHOT = 2,
    VIR_DOMAIN_EVENT_RESUMED_POSTCOPY = 3,
    VIR_DOMAIN_EVENT_RESUMED_POSTCOPY_FAILED = 4,
} vir_domain_event_resumed_detail;

typedef enum {
    VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN = 0,
    VIR_DOMAIN_EVENT_STOPPED_DESTROYED = 1,
    VIR_DOMAIN_EVENT_STOPPED_CRASHED = 2,
    VIR_DOMAIN_EVENT_STOPPED_MIGRATED = 3,
    VIR_DOMAIN_EVENT_STOPPED_SAVED = 4,
    VIR_DOMAIN_EVENT_STOPPED_FAILED = 5,
    VIR_DOMAIN_EVENT_STOPPED_FROM_SNAPSHOT = 6,
} vir_domain_event_stopped_detail;

typedef enum {
    VIR_DOMAIN_EVENT_SHUTDOWN_FINISHED = 0,
    VIR_DOMAIN_EVENT_SHUTDOWN_GUEST = 1,
    VIR_DOMAIN_EVENT_SHUTDOWN_HOST = 2,
} vir_domain_event_shutdown_detail;

typedef enum {
    VIR_DOMAIN_EVENT_PMSUSPENDED_MEMORY = 0,
    VIR_DOMAIN_EVENT_PMSUSPENDED_DISK = 1,
} vir_domain_event_pmsuspended_detail;

typedef enum {
    VIR_DOMAIN_EVENT_CRASHED_PANICKED = 0,
    VIR_DOMAIN_EVENT_CRASHED_CRASHLOADED = 1,
} vir_domain_event_crashed_detail;

typedef enum {
    VIR_DOMAIN_EVENT_ID_LIFECYCLE = 0,
    VIR_DOMAIN_EVENT_ID_REBOOT = 1,
    VIR_DOMAIN_EVENT_ID_RTC_CHANGE = 2,
    VIR_DOMAIN_EVENT_ID_WATCHDOG = 3,
    VIR_DOMAIN_EVENT_ID_IO_ERROR = 4,
    VIR_DOMAIN_EVENT_ID_GRAPHICS = 5,
    VIR_DOMAIN_EVENT_ID_IO_ERROR_REASON = 6,
    VIR_DOMAIN_EVENT_ID_CONTROL_ERROR = 7,
    VIR_DOMAIN_EVENT_ID_BLOCK_JOB = 8,
    VIR_DOMAIN_EVENT_ID_DISK_CHANGE = 9,
    VIR_DOMAIN_EVENT_ID_TRAY_CHANGE = 10,
    VIR_DOMAIN_EVENT_ID_PMWAKEUP = 11,
    VIR_DOMAIN_EVENT_ID_PMSUSPEND = 12,
    VIR_DOMAIN_EVENT_ID_BALLOON_CHANGE = 13,
    VIR_DOMAIN_EVENT_ID_PMSUSPEND_DISK = 14,
    VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED = 15,
    VIR_DOMAIN_EVENT_ID_BLOCK_JOB_2 = 16,
    VIR_DOMAIN_EVENT_ID_TUNABLE = 17,
    VIR_DOMAIN_EVENT_ID_AGENT_LIFECYCLE = 18,
    VIR_DOMAIN_EVENT_ID_DEVICE_ADDED = 19,
    VIR_DOMAIN_EVENT_ID_MIGRATION_ITERATION = 20,
    VIR_DOMAIN_EVENT_ID_JOB_COMPLETED = 21,
    VIR_DOMAIN_EVENT_ID_DEVICE_REMOVAL_FAILED = 22,
    VIR_DOMAIN_EVENT_ID_METADATA_CHANGE = 23,
    VIR_DOMAIN_EVENT_ID_BLOCK_THRESHOLD = 24,
    VIR_DOMAIN_EVENT_ID_MEMORY_FAILURE = 25,
    VIR_DOMAIN_EVENT_ID_MEMORY_DEVICE_SIZE_CHANGE = 26,
} vir_domain_event_id;

/* Lifecycle callback: event is vir_domain_event_type, detail its detail. */
typedef void (*vir_domain_event_callback)(vir_connect *conn, vir_domain *dom, int event, int detail,
                                          void *opaque);
typedef void (*vir_free_callback)(void *opaque);

/*
 * Registers a lifecycle (or reboot) callback, for one domain or (dom NULL)
 * all. Returns a callback id >= 0, or -1. The test driver calls callbacks
 * synchronously from the call that changed the state; the remote driver from
 * the connection's event loop.
 */
int vir_connect_domain_event_register_any(vir_connect *conn, vir_domain *dom, int event_id,
                                          vir_domain_event_callback cb, void *opaque,
                                          vir_free_callback freecb, vir_error *err);
int vir_connect_domain_event_deregister_any(vir_connect *conn, int callback_id, vir_error *err);

/*
 * Event delivery for drivers that receive events asynchronously (the remote
 * driver): the file descriptor to wait on (poll for input), or -1 when the
 * driver calls callbacks synchronously (test driver); and one round of
 * delivery, waiting up to timeout_ms (0: only what has arrived, -1: until
 * something does) for events and console data, then calling the callbacks.
 * Returns the number of messages handled (0 on timeout) or -1 (connection
 * lost). Callbacks run only from here, never from inside another call.
 */
int vir_connect_get_event_fd(vir_connect *conn);
int vir_connect_process_events(vir_connect *conn, int timeout_ms, vir_error *err);

/* ---- streams: the guest console ----------------------------------------- */

typedef struct vir_stream vir_stream;

typedef enum {
    VIR_DOMAIN_CONSOLE_FORCE = 1 << 0, /* take the console from another session */
    VIR_DOMAIN_CONSOLE_SAFE = 1 << 1,
} vir_domain_console_flags;

/*
 * virDomainOpenConsole, with the stream made for the caller: the guest's
 * console (dev_name NULL: the first serial port or console) as a byte
 * stream in both directions. Data from the guest arrives through
 * vir_connect_process_events() and is read with vir_stream_recv().
 */
vir_stream *vir_domain_open_console(vir_domain *dom, const char *dev_name, unsigned int flags,
                                    vir_error *err);
/*
 * virDomainSendKey: keycodes (1 to VIR_DOMAIN_SEND_KEY_MAX_KEYS of them, in codeset, a
 * vir_keycode_set) pressed together on the guest's keyboard and released after holdtime
 * ms (0: the hypervisor's default).
 */
#define VIR_DOMAIN_SEND_KEY_MAX_KEYS 16
typedef enum {
    VIR_KEYCODE_SET_LINUX = 0,
    VIR_KEYCODE_SET_XT = 1,
    VIR_KEYCODE_SET_ATSET1 = 2,
    VIR_KEYCODE_SET_ATSET2 = 3,
    VIR_KEYCODE_SET_ATSET3 = 4,
    VIR_KEYCODE_SET_OSX = 5,
    VIR_KEYCODE_SET_XT_KBD = 6,
    VIR_KEYCODE_SET_USB = 7,
    VIR_KEYCODE_SET_WIN32 = 8,
    VIR_KEYCODE_SET_QNUM = 9,
} vir_keycode_set;
int vir_domain_send_key(vir_domain *dom, unsigned int codeset, unsigned int holdtime,
                        const unsigned int *keycodes, int nkeycodes, unsigned int flags,
                        vir_error *err);

/*
 * virDomainScreenshot, with the stream made for the caller: the domain's
 * screen (screen 0 is the first head) as an image, whose MIME type goes to
 * *mime (the caller frees it). The image arrives through
 * vir_connect_process_events() and is read with vir_stream_recv() until it
 * returns 0; then vir_stream_finish().
 */
vir_stream *vir_domain_screenshot(vir_domain *dom, unsigned int screen, unsigned int flags,
                                  char **mime, vir_error *err);
/* Sends bytes to the guest. Returns len or -1. */
int vir_stream_send(vir_stream *st, const char *data, size_t len, vir_error *err);
/* virStreamSendHole: `length` bytes of zeroes, sent as a hole (a sparse upload). 0 or -1. */
int vir_stream_send_hole(vir_stream *st, long long length, unsigned int flags, vir_error *err);
/*
 * Takes received bytes: returns how many (> 0), 0 at the end of the stream
 * (the server closed it), -2 when none are waiting (libvirt's non-blocking
 * answer), or -1 on a stream error (err filled).
 */
int vir_stream_recv(vir_stream *st, char *buf, size_t len, vir_error *err);
/* Ends the stream from this side and waits (briefly) for the server's end. */
int vir_stream_finish(vir_stream *st, vir_error *err);
void vir_stream_free(vir_stream *st);

/* "Started", "Stopped", ... and their details ("Booted", "Destroyed", ...) as
 * virsh's event command prints them. */
const char *vir_domain_event_to_string(int event);
const char *vir_domain_event_detail_to_string(int event, int detail);

/* ---- virtual networks (libvirt's virNetwork*) --------------------------- */

typedef struct vir_network vir_network;

/* vir_connect_list_all_networks flags (libvirt's values) */
typedef enum {
    VIR_CONNECT_LIST_NETWORKS_INACTIVE = 1 << 0,
    VIR_CONNECT_LIST_NETWORKS_ACTIVE = 1 << 1,
    VIR_CONNECT_LIST_NETWORKS_PERSISTENT = 1 << 2,
    VIR_CONNECT_LIST_NETWORKS_TRANSIENT = 1 << 3,
    VIR_CONNECT_LIST_NETWORKS_AUTOSTART = 1 << 4,
    VIR_CONNECT_LIST_NETWORKS_NO_AUTOSTART = 1 << 5,
} vir_connect_list_networks_flags;

/* vir_network_get_xml_desc flags */
typedef enum {
    VIR_NETWORK_XML_INACTIVE = 1 << 0,
} vir_network_xml_flags;

/* vir_ip_addr_type */
typedef enum {
    VIR_IP_ADDR_TYPE_IPV4 = 0,
    VIR_IP_ADDR_TYPE_IPV6 = 1,
} vir_ip_addr_type;

/* One DHCP lease (virNetworkDHCPLease); optional strings may be NULL. */
typedef struct {
    char *iface;          /* the network's bridge */
    long long expirytime; /* seconds since the epoch */
    int type;             /* vir_ip_addr_type */
    char *mac, *iaid, *ipaddr;
    unsigned int prefix;
    char *hostname, *clientid;
} vir_network_dhcp_lease;

/* Every network matching flags, as handles (free each with vir_network_free, the array with
 * free()). Returns the count or -1. */
int vir_connect_list_all_networks(vir_connect *conn, vir_network ***nets, unsigned int flags,
                                  vir_error *err);
vir_network *vir_network_lookup_by_name(vir_connect *conn, const char *name, vir_error *err);
vir_network *vir_network_lookup_by_uuid_string(vir_connect *conn, const char *uuid, vir_error *err);
/* net-define (persistent, inactive) and net-create (transient, started). */
vir_network *vir_network_define_xml(vir_connect *conn, const char *xml, vir_error *err);
vir_network *vir_network_create_xml(vir_connect *conn, const char *xml, vir_error *err);
int vir_network_create(vir_network *net, vir_error *err); /* start a defined network */
int vir_network_destroy(vir_network *net, vir_error *err);
int vir_network_undefine(vir_network *net, vir_error *err);
char *vir_network_get_xml_desc(vir_network *net, unsigned int flags, vir_error *err);
int vir_network_get_autostart(vir_network *net, int *autostart, vir_error *err);
int vir_network_set_autostart(vir_network *net, int autostart, vir_error *err);
/* virNetworkUpdate's command (vir_network_update_command), section (vir_network_update_section)
 * and flags (vir_network_update_flags) */
typedef enum {
    VIR_NETWORK_UPDATE_COMMAND_NONE = 0,
    VIR_NETWORK_UPDATE_COMMAND_MODIFY = 1,
    VIR_NETWORK_UPDATE_COMMAND_DELETE = 2,
    VIR_NETWORK_UPDATE_COMMAND_ADD_LAST = 3,
    VIR_NETWORK_UPDATE_COMMAND_ADD_FIRST = 4,
} vir_network_update_command;
typedef enum {
    VIR_NETWORK_SECTION_NONE = 0,
    VIR_NETWORK_SECTION_BRIDGE = 1,
    VIR_NETWORK_SECTION_DOMAIN = 2,
    VIR_NETWORK_SECTION_IP = 3,
    VIR_NETWORK_SECTION_IP_DHCP_HOST = 4,
    VIR_NETWORK_SECTION_IP_DHCP_RANGE = 5,
    VIR_NETWORK_SECTION_FORWARD = 6,
    VIR_NETWORK_SECTION_FORWARD_INTERFACE = 7,
    VIR_NETWORK_SECTION_FORWARD_PF = 8,
    VIR_NETWORK_SECTION_PORTGROUP = 9,
    VIR_NETWORK_SECTION_DNS_HOST = 10,
    VIR_NETWORK_SECTION_DNS_TXT = 11,
    VIR_NETWORK_SECTION_DNS_SRV = 12,
} vir_network_update_section;
typedef enum {
    VIR_NETWORK_UPDATE_AFFECT_CURRENT = 0,
    VIR_NETWORK_UPDATE_AFFECT_LIVE = 1 << 0,
    VIR_NETWORK_UPDATE_AFFECT_CONFIG = 1 << 1,
} vir_network_update_flags;
/* net-update: one section element (xml) added, deleted or modified; parent_index picks the
 * <ip> of a DHCP host or range (-1: the daemon chooses). */
int vir_network_update(vir_network *net, unsigned int command, unsigned int section,
                       int parent_index, const char *xml, unsigned int flags, vir_error *err);
char *vir_network_get_bridge_name(vir_network *net, vir_error *err);
int vir_network_is_active(vir_network *net, vir_error *err);
int vir_network_is_persistent(vir_network *net, vir_error *err);
/* The running network's leases (all, or mac's only); free each with
 * vir_network_dhcp_lease_free and the array with free(). Returns the count or -1. */
int vir_network_get_dhcp_leases(vir_network *net, const char *mac, vir_network_dhcp_lease ***leases,
                                unsigned int flags, vir_error *err);
void vir_network_dhcp_lease_free(vir_network_dhcp_lease *lease);
/* The network's ports (virNetworkListAllPorts), as UUID strings (free each and the array with
 * free()); returns the count or -1. A port is then named by its network and UUID string. */
int vir_network_list_all_ports(vir_network *net, char ***uuids, unsigned int flags, vir_error *err);
/* 0 when the network has the port (virNetworkPortLookupByUUIDString), else -1. */
int vir_network_port_lookup_by_uuid_string(vir_network *net, const char *uuid, vir_error *err);
/* <networkport> (virNetworkPortGetXMLDesc); the caller frees it. */
char *vir_network_port_get_xml_desc(vir_network *net, const char *uuid, unsigned int flags,
                                    vir_error *err);
/* virNetworkPortCreateXML flags */
enum {
    VIR_NETWORK_PORT_CREATE_RECLAIM = 1 << 0,
    VIR_NETWORK_PORT_CREATE_VALIDATE = 1 << 1,
};
/* virNetworkPortCreateXML: a port from <networkport> XML; its UUID string in uuid_out. */
int vir_network_port_create_xml(vir_network *net, const char *xml, unsigned int flags,
                                char uuid_out[VIR_UUID_STRING_BUFLEN], vir_error *err);
/* virNetworkPortDelete: the port goes (a running domain's interface keeps its tap). */
int vir_network_port_delete(vir_network *net, const char *uuid, unsigned int flags, vir_error *err);
const char *vir_network_get_name(const vir_network *net);
void vir_network_get_uuid_string(const vir_network *net, char buf[VIR_UUID_STRING_BUFLEN]);
void vir_network_free(vir_network *net);

/* A domain's interface addresses (virDomainInterfaceAddresses). */
typedef enum {
    VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE = 0, /* the network's DHCP leases */
    VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_AGENT = 1, /* the guest agent */
    VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_ARP = 2,   /* the host's neighbour table */
} vir_domain_interface_addresses_source;

typedef struct {
    int type; /* vir_ip_addr_type */
    char *addr;
    unsigned int prefix;
} vir_domain_ip_address;

typedef struct {
    char *name;   /* the host side (vnetN) */
    char *hwaddr; /* may be NULL */
    unsigned int naddrs;
    vir_domain_ip_address *addrs;
} vir_domain_interface;

/* Free each with vir_domain_interface_free and the array with free(). Returns the count or -1. */
int vir_domain_interface_addresses(vir_domain *dom, vir_domain_interface ***ifaces,
                                   unsigned int source, unsigned int flags, vir_error *err);
void vir_domain_interface_free(vir_domain_interface *iface);

/* Network events (virConnectNetworkEventRegisterAny): libvirt's virNetworkEventID and
 * virNetworkEventLifecycleType. */
typedef enum {
    VIR_NETWORK_EVENT_ID_LIFECYCLE = 0,
} vir_network_event_id;
typedef enum {
    VIR_NETWORK_EVENT_DEFINED = 0,
    VIR_NETWORK_EVENT_UNDEFINED = 1,
    VIR_NETWORK_EVENT_STARTED = 2,
    VIR_NETWORK_EVENT_STOPPED = 3,
} vir_network_event_lifecycle_type;
/* Lifecycle callback: event is vir_network_event_lifecycle_type, detail 0. net is valid during
 * the call only. */
typedef void (*vir_connect_network_event_lifecycle_callback)(vir_connect *conn, vir_network *net,
                                                             int event, int detail, void *opaque);
/*
 * Registers a lifecycle callback for one network or (net NULL) all; the server filters.
 * Returns a callback id >= 0, or -1. Callbacks run from vir_connect_process_events(), as the
 * domain events' do; freecb (may be NULL) gets opaque when the callback is deregistered or the
 * connection closes.
 */
int vir_connect_network_event_register_any(vir_connect *conn, vir_network *net, int event_id,
                                           vir_connect_network_event_lifecycle_callback cb,
                                           void *opaque, vir_free_callback freecb, vir_error *err);
int vir_connect_network_event_deregister_any(vir_connect *conn, int callback_id, vir_error *err);
/* "Defined", "Undefined", "Started", "Stopped" (virsh's words), "unknown" otherwise. */
const char *vir_network_event_to_string(int event);

/* ---- secrets (libvirt-secret.h) ----------------------------------------- */

typedef struct vir_secret vir_secret;

/* A secret's usage (virSecretUsageType). */
typedef enum {
    VIR_SECRET_USAGE_TYPE_NONE = 0,
    VIR_SECRET_USAGE_TYPE_VOLUME = 1,
    VIR_SECRET_USAGE_TYPE_CEPH = 2,
    VIR_SECRET_USAGE_TYPE_ISCSI = 3,
    VIR_SECRET_USAGE_TYPE_TLS = 4,
    VIR_SECRET_USAGE_TYPE_VTPM = 5,
} vir_secret_usage_type;

/* vir_connect_list_all_secrets flags (libvirt's values) */
typedef enum {
    VIR_CONNECT_LIST_SECRETS_EPHEMERAL = 1 << 0,
    VIR_CONNECT_LIST_SECRETS_NO_EPHEMERAL = 1 << 1,
    VIR_CONNECT_LIST_SECRETS_PRIVATE = 1 << 2,
    VIR_CONNECT_LIST_SECRETS_NO_PRIVATE = 1 << 3,
} vir_connect_list_all_secrets_flags;

/* vir_secret_define_xml flags */
typedef enum {
    VIR_SECRET_DEFINE_VALIDATE = 1 << 0,
} vir_secret_define_flags;

/* Secrets: a handle names a secret by its UUID and carries its usage as of the lookup; each
 * call returning one gives a reference the caller drops with vir_secret_free. Lists are arrays
 * the caller frees (each handle, then the array with free()); returns the count or -1. */
int vir_connect_list_all_secrets(vir_connect *conn, vir_secret ***secrets, unsigned int flags,
                                 vir_error *err);
vir_secret *vir_secret_lookup_by_uuid(vir_connect *conn, const unsigned char uuid[VIR_UUID_BUFLEN],
                                      vir_error *err);
vir_secret *vir_secret_lookup_by_uuid_string(vir_connect *conn, const char *uuid, vir_error *err);
/* usage_type is vir_secret_usage_type, usage_id the usage's volume path or name. */
vir_secret *vir_secret_lookup_by_usage(vir_connect *conn, int usage_type, const char *usage_id,
                                       vir_error *err);
vir_secret *vir_secret_define_xml(vir_connect *conn, const char *xml, unsigned int flags,
                                  vir_error *err);
int vir_secret_undefine(vir_secret *secret, vir_error *err);
char *vir_secret_get_xml_desc(vir_secret *secret, unsigned int flags, vir_error *err);
int vir_secret_set_value(vir_secret *secret, const unsigned char *value, size_t size,
                         unsigned int flags, vir_error *err);
/* The value (malloc'd, *size bytes; the caller wipes and frees it), or NULL. */
unsigned char *vir_secret_get_value(vir_secret *secret, size_t *size, unsigned int flags,
                                    vir_error *err);
void vir_secret_get_uuid(const vir_secret *secret, unsigned char uuid[VIR_UUID_BUFLEN]);
void vir_secret_get_uuid_string(const vir_secret *secret, char buf[VIR_UUID_STRING_BUFLEN]);
int vir_secret_get_usage_type(const vir_secret *secret); /* vir_secret_usage_type, -1 for NULL */
const char *vir_secret_get_usage_id(const vir_secret *secret);
void vir_secret_free(vir_secret *secret);
/* "none", "volume", "ceph", "iscsi", "tls", "vtpm" (libvirt's names), NULL otherwise. */
const char *vir_secret_usage_type_to_string(int usage_type);

/* Secret events (virConnectSecretEventRegisterAny): libvirt's virSecretEventID and
 * virSecretEventLifecycleType. */
typedef enum {
    VIR_SECRET_EVENT_ID_LIFECYCLE = 0,
    VIR_SECRET_EVENT_ID_VALUE_CHANGED = 1,
} vir_secret_event_id;
typedef enum {
    VIR_SECRET_EVENT_DEFINED = 0,
    VIR_SECRET_EVENT_UNDEFINED = 1,
} vir_secret_event_lifecycle_type;
/* The two callback shapes, as libvirt's: registration takes the generic one, and a lifecycle
 * callback is passed through VIR_SECRET_EVENT_CALLBACK (the library casts it back before the
 * call). secret is valid during the call only. */
typedef void (*vir_connect_secret_event_generic_callback)(vir_connect *conn, vir_secret *secret,
                                                          void *opaque);
typedef void (*vir_connect_secret_event_lifecycle_callback)(vir_connect *conn, vir_secret *secret,
                                                            int event, int detail, void *opaque);
#define VIR_SECRET_EVENT_CALLBACK(cb)                                                              \
    ((vir_connect_secret_event_generic_callback)(void (*)(void))(cb))
/*
 * Registers a callback for event_id (vir_secret_event_id) of one secret or (secret NULL) all;
 * the server filters. Returns a callback id >= 0, or -1. Callbacks run from
 * vir_connect_process_events(); freecb (may be NULL) gets opaque when the callback is
 * deregistered or the connection closes.
 */
int vir_connect_secret_event_register_any(vir_connect *conn, vir_secret *secret, int event_id,
                                          vir_connect_secret_event_generic_callback cb,
                                          void *opaque, vir_free_callback freecb, vir_error *err);
int vir_connect_secret_event_deregister_any(vir_connect *conn, int callback_id, vir_error *err);
/* "Defined", "Undefined" (virsh's words), "unknown" otherwise. */
const char *vir_secret_event_to_string(int event);

/* ---- storage pools and volumes (libvirt-storage.h) ---------------------- */

typedef struct vir_storage_pool vir_storage_pool;
typedef struct vir_storage_vol vir_storage_vol;

typedef enum {
    VIR_STORAGE_POOL_INACTIVE = 0,
    VIR_STORAGE_POOL_BUILDING = 1,
    VIR_STORAGE_POOL_RUNNING = 2,
    VIR_STORAGE_POOL_DEGRADED = 3,
    VIR_STORAGE_POOL_INACCESSIBLE = 4,
} vir_storage_pool_state;

typedef struct {
    int state;                                          /* vir_storage_pool_state */
    unsigned long long capacity, allocation, available; /* bytes */
} vir_storage_pool_info;

typedef enum {
    VIR_STORAGE_VOL_FILE = 0,
    VIR_STORAGE_VOL_BLOCK = 1,
    VIR_STORAGE_VOL_DIR = 2,
    VIR_STORAGE_VOL_NETWORK = 3,
    VIR_STORAGE_VOL_NETDIR = 4,
    VIR_STORAGE_VOL_PLOOP = 5,
} vir_storage_vol_type;

typedef struct {
    int type;                                /* vir_storage_vol_type */
    unsigned long long capacity, allocation; /* bytes */
} vir_storage_vol_info;

typedef enum {
    VIR_CONNECT_LIST_STORAGE_POOLS_INACTIVE = 1 << 0,
    VIR_CONNECT_LIST_STORAGE_POOLS_ACTIVE = 1 << 1,
    VIR_CONNECT_LIST_STORAGE_POOLS_PERSISTENT = 1 << 2,
    VIR_CONNECT_LIST_STORAGE_POOLS_TRANSIENT = 1 << 3,
    VIR_CONNECT_LIST_STORAGE_POOLS_AUTOSTART = 1 << 4,
    VIR_CONNECT_LIST_STORAGE_POOLS_NO_AUTOSTART = 1 << 5,
    VIR_CONNECT_LIST_STORAGE_POOLS_DIR = 1 << 6,
    VIR_CONNECT_LIST_STORAGE_POOLS_FS = 1 << 7,
    VIR_CONNECT_LIST_STORAGE_POOLS_NETFS = 1 << 8,
    VIR_CONNECT_LIST_STORAGE_POOLS_LOGICAL = 1 << 9,
    VIR_CONNECT_LIST_STORAGE_POOLS_DISK = 1 << 10,
} vir_connect_list_all_storage_pools_flags;

enum {
    VIR_STORAGE_POOL_BUILD_NEW = 0,
    VIR_STORAGE_POOL_BUILD_NO_OVERWRITE = 1 << 2,
    VIR_STORAGE_POOL_BUILD_OVERWRITE = 1 << 3,
    VIR_STORAGE_POOL_CREATE_WITH_BUILD = 1 << 0,
    VIR_STORAGE_POOL_CREATE_WITH_BUILD_OVERWRITE = 1 << 1,
    VIR_STORAGE_POOL_CREATE_WITH_BUILD_NO_OVERWRITE = 1 << 2,
    VIR_STORAGE_XML_INACTIVE = 1 << 0,
    VIR_STORAGE_VOL_CREATE_PREALLOC_METADATA = 1 << 0,
    VIR_STORAGE_VOL_RESIZE_ALLOCATE = 1 << 0,
    VIR_STORAGE_VOL_RESIZE_DELTA = 1 << 1,
    VIR_STORAGE_VOL_RESIZE_SHRINK = 1 << 2,
    VIR_STORAGE_VOL_DELETE_ZEROED = 1 << 0,
    VIR_STORAGE_VOL_UPLOAD_SPARSE_STREAM = 1 << 0,
    VIR_STORAGE_VOL_DOWNLOAD_SPARSE_STREAM = 1 << 0,
};

/* virStorageVolWipeAlgorithm */
typedef enum {
    VIR_STORAGE_VOL_WIPE_ALG_ZERO = 0,
    VIR_STORAGE_VOL_WIPE_ALG_NNSA = 1,
    VIR_STORAGE_VOL_WIPE_ALG_DOD = 2,
    VIR_STORAGE_VOL_WIPE_ALG_BSI = 3,
    VIR_STORAGE_VOL_WIPE_ALG_GUTMANN = 4,
    VIR_STORAGE_VOL_WIPE_ALG_SCHNEIER = 5,
    VIR_STORAGE_VOL_WIPE_ALG_PFITZNER7 = 6,
    VIR_STORAGE_VOL_WIPE_ALG_PFITZNER33 = 7,
    VIR_STORAGE_VOL_WIPE_ALG_RANDOM = 8,
    VIR_STORAGE_VOL_WIPE_ALG_TRIM = 9,
} vir_storage_vol_wipe_algorithm;

/* Pools: handles name a pool (name and uuid); each call returning one gives a reference the
 * caller drops with vir_storage_pool_free. Lists are arrays the caller frees (each handle,
 * then the array). */
int vir_connect_list_all_storage_pools(vir_connect *conn, vir_storage_pool ***pools,
                                       unsigned int flags, vir_error *err);
vir_storage_pool *vir_storage_pool_lookup_by_name(vir_connect *conn, const char *name,
                                                  vir_error *err);
vir_storage_pool *vir_storage_pool_lookup_by_uuid_string(vir_connect *conn, const char *uuid,
                                                         vir_error *err);
vir_storage_pool *vir_storage_pool_lookup_by_volume(vir_storage_vol *vol, vir_error *err);
vir_storage_pool *vir_storage_pool_define_xml(vir_connect *conn, const char *xml,
                                              unsigned int flags, vir_error *err);
vir_storage_pool *vir_storage_pool_create_xml(vir_connect *conn, const char *xml,
                                              unsigned int flags, vir_error *err);
int vir_storage_pool_create(vir_storage_pool *pool, unsigned int flags, vir_error *err);
int vir_storage_pool_build(vir_storage_pool *pool, unsigned int flags, vir_error *err);
int vir_storage_pool_destroy(vir_storage_pool *pool, vir_error *err);
int vir_storage_pool_delete(vir_storage_pool *pool, unsigned int flags, vir_error *err);
int vir_storage_pool_undefine(vir_storage_pool *pool, vir_error *err);
int vir_storage_pool_refresh(vir_storage_pool *pool, unsigned int flags, vir_error *err);
int vir_storage_pool_get_info(vir_storage_pool *pool, vir_storage_pool_info *info, vir_error *err);
char *vir_storage_pool_get_xml_desc(vir_storage_pool *pool, unsigned int flags, vir_error *err);
int vir_storage_pool_get_autostart(vir_storage_pool *pool, int *autostart, vir_error *err);
int vir_storage_pool_set_autostart(vir_storage_pool *pool, int autostart, vir_error *err);
/* 1, 0, or -1 on error. */
int vir_storage_pool_is_active(vir_storage_pool *pool, vir_error *err);
int vir_storage_pool_is_persistent(vir_storage_pool *pool, vir_error *err);
const char *vir_storage_pool_get_name(const vir_storage_pool *pool);
void vir_storage_pool_get_uuid_string(const vir_storage_pool *pool,
                                      char buf[VIR_UUID_STRING_BUFLEN]);
void vir_storage_pool_free(vir_storage_pool *pool);
char *vir_connect_get_storage_pool_capabilities(vir_connect *conn, unsigned int flags,
                                                vir_error *err);

/* Storage pool events (virConnectStoragePoolEventRegisterAny): libvirt's virStoragePoolEventID
 * and virStoragePoolEventLifecycleType. */
typedef enum {
    VIR_STORAGE_POOL_EVENT_ID_LIFECYCLE = 0,
    VIR_STORAGE_POOL_EVENT_ID_REFRESH = 1,
} vir_storage_pool_event_id;
typedef enum {
    VIR_STORAGE_POOL_EVENT_DEFINED = 0,
    VIR_STORAGE_POOL_EVENT_UNDEFINED = 1,
    VIR_STORAGE_POOL_EVENT_STARTED = 2,
    VIR_STORAGE_POOL_EVENT_STOPPED = 3,
    VIR_STORAGE_POOL_EVENT_CREATED = 4,
    VIR_STORAGE_POOL_EVENT_DELETED = 5,
} vir_storage_pool_event_lifecycle_type;
/* As the secret events': registration takes the generic shape, a lifecycle callback passed
 * through VIR_STORAGE_POOL_EVENT_CALLBACK. pool is valid during the call only. */
typedef void (*vir_connect_storage_pool_event_generic_callback)(vir_connect *conn,
                                                                vir_storage_pool *pool,
                                                                void *opaque);
typedef void (*vir_connect_storage_pool_event_lifecycle_callback)(vir_connect *conn,
                                                                  vir_storage_pool *pool, int event,
                                                                  int detail, void *opaque);
#define VIR_STORAGE_POOL_EVENT_CALLBACK(cb)                                                        \
    ((vir_connect_storage_pool_event_generic_callback)(void (*)(void))(cb))
/* Registers a callback for event_id (vir_storage_pool_event_id) of one pool or (pool NULL) all;
 * the server filters. Returns a callback id >= 0, or -1; callbacks run from
 * vir_connect_process_events(), freecb as for the other events. */
int vir_connect_storage_pool_event_register_any(vir_connect *conn, vir_storage_pool *pool,
                                                int event_id,
                                                vir_connect_storage_pool_event_generic_callback cb,
                                                void *opaque, vir_free_callback freecb,
                                                vir_error *err);
int vir_connect_storage_pool_event_deregister_any(vir_connect *conn, int callback_id,
                                                  vir_error *err);
/* "Defined", "Undefined", "Started", "Stopped", "Created", "Deleted" (virsh's words),
 * "unknown" otherwise. */
const char *vir_storage_pool_event_to_string(int event);

/* Volumes: handles name a volume (pool name, name, key). */
int vir_storage_pool_list_all_volumes(vir_storage_pool *pool, vir_storage_vol ***vols,
                                      unsigned int flags, vir_error *err);
vir_storage_vol *vir_storage_vol_lookup_by_name(vir_storage_pool *pool, const char *name,
                                                vir_error *err);
vir_storage_vol *vir_storage_vol_lookup_by_key(vir_connect *conn, const char *key, vir_error *err);
vir_storage_vol *vir_storage_vol_lookup_by_path(vir_connect *conn, const char *path,
                                                vir_error *err);
vir_storage_vol *vir_storage_vol_create_xml(vir_storage_pool *pool, const char *xml,
                                            unsigned int flags, vir_error *err);
vir_storage_vol *vir_storage_vol_create_xml_from(vir_storage_pool *pool, const char *xml,
                                                 vir_storage_vol *clone, unsigned int flags,
                                                 vir_error *err);
int vir_storage_vol_delete(vir_storage_vol *vol, unsigned int flags, vir_error *err);
int vir_storage_vol_wipe_pattern(vir_storage_vol *vol, unsigned int algorithm, unsigned int flags,
                                 vir_error *err);
int vir_storage_vol_resize(vir_storage_vol *vol, unsigned long long capacity, unsigned int flags,
                           vir_error *err);
int vir_storage_vol_get_info(vir_storage_vol *vol, vir_storage_vol_info *info, vir_error *err);
char *vir_storage_vol_get_xml_desc(vir_storage_vol *vol, unsigned int flags, vir_error *err);
char *vir_storage_vol_get_path(vir_storage_vol *vol, vir_error *err);
const char *vir_storage_vol_get_name(const vir_storage_vol *vol);
const char *vir_storage_vol_get_key(const vir_storage_vol *vol);
void vir_storage_vol_free(vir_storage_vol *vol);
/*
 * virStorageVolUpload / virStorageVolDownload, with the stream made for the
 * caller (length 0: to the end). Upload: vir_stream_send() the bytes, then
 * vir_stream_finish(). Download: the bytes arrive through
 * vir_connect_process_events() and are read with vir_stream_recv() until it
 * returns 0; then vir_stream_finish().
 */
vir_stream *vir_storage_vol_upload(vir_storage_vol *vol, unsigned long long offset,
                                   unsigned long long length, unsigned int flags, vir_error *err);
vir_stream *vir_storage_vol_download(vir_storage_vol *vol, unsigned long long offset,
                                     unsigned long long length, unsigned int flags, vir_error *err);

/* ---- helpers ---------------------------------------------------------- */

/* "running", "paused", "shut off", ... as virsh prints them. */
const char *vir_domain_state_to_string(int state);
/* "booted", "user", "shutdown", "saved", ... as virsh prints them ("unknown" otherwise). */
const char *vir_domain_state_reason_to_string(int state, int reason);

/* ---- migration (libvirt's virDomainMigrate3 family) -------------------- */

/* libvirt's virDomainMigrateFlags. */
typedef enum {
    VIR_MIGRATE_LIVE = 1 << 0,
    VIR_MIGRATE_PEER2PEER = 1 << 1,
    VIR_MIGRATE_TUNNELLED = 1 << 2,
    VIR_MIGRATE_PERSIST_DEST = 1 << 3,
    VIR_MIGRATE_UNDEFINE_SOURCE = 1 << 4,
    VIR_MIGRATE_PAUSED = 1 << 5,
    VIR_MIGRATE_NON_SHARED_DISK = 1 << 6,
    VIR_MIGRATE_NON_SHARED_INC = 1 << 7,
    VIR_MIGRATE_CHANGE_PROTECTION = 1 << 8,
    VIR_MIGRATE_UNSAFE = 1 << 9,
    VIR_MIGRATE_OFFLINE = 1 << 10,
    VIR_MIGRATE_COMPRESSED = 1 << 11,
    VIR_MIGRATE_ABORT_ON_ERROR = 1 << 12,
    VIR_MIGRATE_AUTO_CONVERGE = 1 << 13,
    VIR_MIGRATE_POSTCOPY = 1 << 15,
    VIR_MIGRATE_TLS = 1 << 16,
    VIR_MIGRATE_PARALLEL = 1 << 17,
    VIR_MIGRATE_NON_SHARED_SYNCHRONOUS_WRITES = 1 << 18,
    VIR_MIGRATE_POSTCOPY_RESUME = 1 << 19,
} vir_domain_migrate_flags;

/* libvirt's VIR_MIGRATE_PARAM_* names. */
#define VIR_MIGRATE_PARAM_URI            "migrate_uri"
#define VIR_MIGRATE_PARAM_DEST_NAME      "destination_name"
#define VIR_MIGRATE_PARAM_DEST_XML       "destination_xml"
#define VIR_MIGRATE_PARAM_PERSIST_XML    "persistent_xml"
#define VIR_MIGRATE_PARAM_BANDWIDTH      "bandwidth"
#define VIR_MIGRATE_PARAM_LISTEN_ADDRESS "listen_address"
#define VIR_MIGRATE_PARAM_MIGRATE_DISKS  "migrate_disks"
#define VIR_MIGRATE_PARAM_DISKS_PORT     "disks_port"

/* --parallel's channel count (libvirt's VIR_MIGRATE_PARAM_PARALLEL_CONNECTIONS). */
#define VIR_MIGRATE_PARAM_PARALLEL_CONNECTIONS "parallel.connections"
/* --postcopy-bandwidth, MiB/s (libvirt's VIR_MIGRATE_PARAM_BANDWIDTH_POSTCOPY). */
#define VIR_MIGRATE_PARAM_BANDWIDTH_POSTCOPY "bandwidth.postcopy"

/*
 * Migrates dom to the host of dconn, the client driving libvirt's protocol v3 (Begin on
 * the source, Prepare on the destination, Perform, Finish, Confirm). Returns the domain on
 * the destination, or NULL with err (the source then runs as before).
 */
vir_domain *vir_domain_migrate3(vir_domain *dom, vir_connect *dconn,
                                const vir_typed_parameter *params, int nparams, unsigned int flags,
                                vir_error *err);
/* Peer-to-peer (VIR_MIGRATE_PEER2PEER): the source's daemon talks to dconnuri itself. */
int vir_domain_migrate_to_uri3(vir_domain *dom, const char *dconnuri,
                               const vir_typed_parameter *params, int nparams, unsigned int flags,
                               vir_error *err);
int vir_domain_migrate_set_max_downtime(vir_domain *dom, unsigned long long ms, unsigned int flags,
                                        vir_error *err);
int vir_domain_migrate_get_max_downtime(vir_domain *dom, unsigned long long *ms, unsigned int flags,
                                        vir_error *err);
/* MiB/s */
int vir_domain_migrate_set_max_speed(vir_domain *dom, unsigned long bandwidth, unsigned int flags,
                                     vir_error *err);
int vir_domain_migrate_get_max_speed(vir_domain *dom, unsigned long *bandwidth, unsigned int flags,
                                     vir_error *err);

/* libvirt's virDomainJobType and the job statistics (virDomainGetJobStats). */
typedef enum {
    VIR_DOMAIN_JOB_NONE = 0,
    VIR_DOMAIN_JOB_BOUNDED = 1,
    VIR_DOMAIN_JOB_UNBOUNDED = 2,
    VIR_DOMAIN_JOB_COMPLETED = 3,
    VIR_DOMAIN_JOB_FAILED = 4,
    VIR_DOMAIN_JOB_CANCELLED = 5,
} vir_domain_job_type;
#define VIR_DOMAIN_JOB_STATS_COMPLETED      (1u << 0)
#define VIR_DOMAIN_JOB_STATS_KEEP_COMPLETED (1u << 1)
/* *params is malloc'd (free its strings and it with vir_typed_params_free). */
int vir_domain_get_job_stats(vir_domain *dom, int *type, vir_typed_parameter **params, int *nparams,
                             unsigned int flags, vir_error *err);
void vir_typed_params_free(vir_typed_parameter *params, int nparams);
int vir_domain_abort_job(vir_domain *dom, vir_error *err);
/* virDomainMigrateStartPostCopy: the outgoing migration (started with VIR_MIGRATE_POSTCOPY)
 * switches to post-copy. */
int vir_domain_migrate_start_post_copy(vir_domain *dom, unsigned int flags, vir_error *err);

#ifdef __cplusplus
}
#endif

#endif
