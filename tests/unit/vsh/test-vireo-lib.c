/*
 * test-vireo-lib.c - libvireo's API on the test driver, below vsh: the
 * lifecycle state machine with libvirt's reasons, events, transient vs
 * persistent, managed save, crash handling, list filters, --live/--config
 * rules, read-only refusals and error codes.
 */
#include "../tap.h"
#include "vireo/vireo.h"

#include <stdlib.h>
#include <string.h>

struct events {
    int n;
    int type[32], detail[32];
};

static void on_event(vir_connect *conn, vir_domain *dom, int event, int detail, void *opaque)
{
    (void)conn;
    (void)dom;
    struct events *e = opaque;
    if (e->n < 32) {
        e->type[e->n] = event;
        e->detail[e->n] = detail;
        e->n++;
    }
}

static const char demo_xml[] = "<domain type='test'><name>demo</name>"
                               "<uuid>4dea22b3-1d52-d8f3-2516-782e98ab3fa0</uuid>"
                               "<memory unit='MiB'>512</memory><vcpu>2</vcpu>"
                               "<os><type arch='x86_64'>hvm</type></os>"
                               "<on_crash>preserve</on_crash></domain>";

static void state_is(vir_domain *dom, int want_state, int want_reason, const char *what)
{
    int state = -1, reason = -1;
    vir_domain_get_state(dom, &state, &reason, 0, NULL);
    ok(state == want_state && reason == want_reason, "%s: %s (%s)", what,
       vir_domain_state_to_string(state), vir_domain_state_reason_to_string(state, reason));
}

static int count(vir_connect *conn, unsigned flags)
{
    vir_domain **doms;
    int n = vir_connect_list_all_domains(conn, &doms, flags, NULL);
    for (int i = 0; i < n; i++)
        vir_domain_free(doms[i]);
    free(doms);
    return n;
}

int main(void)
{
    vir_error err;
    vir_connect *bad = vir_connect_open("xen:///system", 0, &err);
    ok(!bad && err.code == VIR_ERR_NO_CONNECT, "no driver for xen:///system");
    is_str(err.message, "no connection driver available for xen:///system", "its message");
    bad = vir_connect_open("qemu+unix:///system?socket=/nonexistent/vireo-sock", 0, &err);
    ok(!bad && err.code == VIR_ERR_SYSTEM_ERROR, "qemu:///system without a daemon");
    is_str(err.message,
           "Failed to connect socket to '/nonexistent/vireo-sock': No such file or directory",
           "its message is libvirt's");

    vir_connect *conn = vir_connect_open("test:///default", 0, &err);
    ok(conn != NULL, "test:///default opens");
    if (!conn)
        return tap_done();
    is_str(vir_connect_get_type(conn), "TEST", "driver type");
    vir_domain *test = vir_domain_lookup_by_name(conn, "test", &err);
    ok(test && vir_domain_get_id(test) == 1, "the built-in domain 'test' runs with id 1");
    state_is(test, VIR_DOMAIN_RUNNING, VIR_DOMAIN_RUNNING_UNKNOWN, "test starts");

    struct events ev = {0};
    int cb = vir_connect_domain_event_register_any(conn, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                                   on_event, &ev, NULL, &err);
    ok(cb >= 0, "lifecycle callback registered");

    vir_domain *demo = vir_domain_define_xml(conn, demo_xml, 0, &err);
    ok(demo != NULL, "define demo");
    ok(ev.n == 1 && ev.type[0] == VIR_DOMAIN_EVENT_DEFINED &&
           ev.detail[0] == VIR_DOMAIN_EVENT_DEFINED_ADDED,
       "DEFINED/ADDED event");
    state_is(demo, VIR_DOMAIN_SHUTOFF, VIR_DOMAIN_SHUTOFF_UNKNOWN, "defined");
    ok(vir_domain_create(demo, VIR_DOMAIN_START_PAUSED, &err) == 0, "start paused");
    state_is(demo, VIR_DOMAIN_PAUSED, VIR_DOMAIN_PAUSED_USER, "started paused");
    ok(vir_domain_resume(demo, &err) == 0, "resume");
    state_is(demo, VIR_DOMAIN_RUNNING, VIR_DOMAIN_RUNNING_UNPAUSED, "resumed");
    ok(vir_domain_create(demo, 0, &err) < 0 && err.code == VIR_ERR_OPERATION_INVALID,
       "starting a running domain is refused");

    ok(vir_domain_inject_crash(demo, &err) == 0, "crash (on_crash=preserve)");
    state_is(demo, VIR_DOMAIN_CRASHED, VIR_DOMAIN_CRASHED_PANICKED, "crashed and preserved");
    ok(vir_domain_destroy(demo, 0, &err) == 0, "destroy a crashed domain");
    state_is(demo, VIR_DOMAIN_SHUTOFF, VIR_DOMAIN_SHUTOFF_DESTROYED, "destroyed");

    /* managed save: shut off (saved); start resumes it (running, restored) */
    ok(vir_domain_create(demo, 0, &err) == 0, "start");
    state_is(demo, VIR_DOMAIN_RUNNING, VIR_DOMAIN_RUNNING_BOOTED, "booted");
    ok(vir_domain_set_memory_flags(demo, 262144, VIR_DOMAIN_AFFECT_LIVE, &err) == 0,
       "balloon the live domain to 256 MiB");
    ok(vir_domain_managed_save(demo, 0, &err) == 0, "managed save");
    state_is(demo, VIR_DOMAIN_SHUTOFF, VIR_DOMAIN_SHUTOFF_SAVED, "managed-saved");
    is_int(vir_domain_has_managed_save_image(demo, 0, &err), 1, "has a managed save image");
    is_int(count(conn, VIR_CONNECT_LIST_DOMAINS_MANAGEDSAVE | VIR_CONNECT_LIST_DOMAINS_INACTIVE), 1,
           "list filter: with managed save");
    ok(vir_domain_undefine(demo, 0, &err) < 0 && err.code == VIR_ERR_OPERATION_INVALID,
       "undefine refuses while a managed save image exists");
    ok(vir_domain_create(demo, 0, &err) == 0, "start from managed save");
    state_is(demo, VIR_DOMAIN_RUNNING, VIR_DOMAIN_RUNNING_RESTORED, "restored");
    vir_domain_info info;
    vir_domain_get_info(demo, &info, &err);
    ok(info.memory == 262144, "the saved live memory came back (%lu KiB)", info.memory);
    is_int(vir_domain_has_managed_save_image(demo, 0, &err), 0, "image consumed");

    /* --live / --config */
    ok(vir_domain_set_vcpus_flags(demo, 1, VIR_DOMAIN_AFFECT_CONFIG, &err) == 0,
       "setvcpus --config");
    is_int(vir_domain_get_vcpus_flags(demo, VIR_DOMAIN_AFFECT_LIVE, &err), 2, "live unchanged");
    is_int(vir_domain_get_vcpus_flags(demo, VIR_DOMAIN_AFFECT_CONFIG, &err), 1, "config changed");
    ok(vir_domain_set_memory_flags(demo, 1024, VIR_DOMAIN_MEM_MAXIMUM | VIR_DOMAIN_AFFECT_LIVE,
                                   &err) < 0 &&
           err.code == VIR_ERR_OPERATION_INVALID,
       "max memory of a running domain cannot change");

    /* undefine while running: it becomes transient and goes away when it stops */
    ok(vir_domain_undefine(demo, 0, &err) == 0, "undefine running demo");
    is_int(vir_domain_is_persistent(demo, &err), 0, "now transient");
    ok(vir_domain_set_autostart(demo, 1, &err) < 0, "no autostart for transient domains");
    ok(vir_domain_shutdown(demo, 0, &err) == 0, "shutdown");
    vir_domain *gone = vir_domain_lookup_by_name(conn, "demo", &err);
    ok(!gone && err.code == VIR_ERR_NO_DOMAIN, "a stopped transient domain is gone");
    is_str(err.message, "Domain not found: no domain with matching name 'demo'",
           "lookup error as libvirt words it");
    ok(vir_domain_get_info(demo, &info, &err) < 0 && err.code == VIR_ERR_NO_DOMAIN,
       "a stale handle reports no domain");
    vir_domain_free(demo);

    int before = ev.n;
    vir_connect_domain_event_deregister_any(conn, cb, &err);
    vir_domain_suspend(test, &err);
    ok(ev.n == before, "no events after deregistering");
    vir_domain_resume(test, &err);

    /* list filters */
    vir_domain *web = vir_domain_create_xml(conn, demo_xml, 0, &err);
    ok(web != NULL, "create a transient domain");
    is_int(count(conn, VIR_CONNECT_LIST_DOMAINS_TRANSIENT), 1, "one transient");
    is_int(count(conn, VIR_CONNECT_LIST_DOMAINS_PERSISTENT), 1, "one persistent");
    is_int(count(conn, 0), 2, "two in all");
    vir_domain_free(web);

    /* read-only */
    vir_connect *ro = vir_connect_open_read_only("test:///default", &err);
    vir_domain *rt = vir_domain_lookup_by_id(ro, 1, &err);
    ok(rt && vir_domain_destroy(rt, 0, &err) < 0 && err.code == VIR_ERR_OPERATION_DENIED,
       "read-only connection refuses destroy");
    is_str(err.message, "operation forbidden: read only access prevents virDomainDestroy",
           "with libvirt's words");
    char *xml = vir_domain_get_xml_desc(rt, 0, &err);
    ok(xml && strstr(xml, "<name>test</name>"), "but reads XML");
    free(xml);
    vir_domain_free(rt);
    vir_connect_close(ro);

    vir_domain_free(test);
    vir_connect_close(conn);
    return tap_done();
}
