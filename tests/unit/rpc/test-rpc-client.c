/*
 * test-rpc-client.c - src/rpc's client side against rpc-test-server: the
 * connection handshake the stock virsh performs, calls whose replies carry
 * every kind of value (strings, chars, arrays of structures, typed
 * parameters), server errors decoded into rpc_error, NO_SUPPORT, a
 * lifecycle event and a console stream.
 *
 *   test-rpc-client PATH/TO/rpc-test-server
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../tap.h"
#include "rpc/client.h"
#include "rpc/dispatch.h"

struct seen {
    int events;
    int event_type;
    char event_dom[64];
    struct buf stream;
    int stream_end;
};

static void on_message(void *opaque, const struct rpc_header *h, const uint8_t *payload, size_t len)
{
    struct seen *s = opaque;
    if (h->type == RPC_MESSAGE && h->proc == REMOTE_PROC_DOMAIN_EVENT_CALLBACK_LIFECYCLE) {
        void *v = NULL;
        struct verr err = {0};
        const struct remote_type *t = remote_proc_lookup(h->proc)->args;
        if (rpc_payload_decode(t, payload, len, &v, &err) == 0) {
            struct remote_domain_event_callback_lifecycle_msg *m = v;
            s->events++;
            s->event_type = m->msg.event;
            snprintf(s->event_dom, sizeof(s->event_dom), "%s", m->msg.dom.name);
        }
        rpc_payload_free(t, v);
    } else if (h->type == RPC_STREAM) {
        if (h->status == RPC_CONTINUE)
            buf_append(&s->stream, payload, len);
        else
            s->stream_end = 1;
    }
}

int main(int argc, char **argv)
{
    if (argc < 2)
        tap_skip_all("usage: test-rpc-client PATH/TO/rpc-test-server");
    char dir[] = "/tmp/vireo-rpc-client.XXXXXX";
    if (!mkdtemp(dir))
        tap_skip_all("cannot make a temporary directory");
    char sock[256];
    snprintf(sock, sizeof(sock), "%s/sock", dir);
    pid_t pid = fork();
    if (pid == 0) {
        execl(argv[1], argv[1], sock, "--lifetime", "60", (char *)NULL);
        _exit(127);
    }
    struct stat st;
    for (int i = 0; i < 200 && stat(sock, &st) < 0; i++)
        usleep(20000);

    struct rpc_client c;
    struct verr err = {0};
    struct rpc_error remote = {0};
    struct seen seen = {0};
    int r = rpc_client_connect_unix(&c, sock, &err);
    ok(r == 0, "connect to the test server: %s", r ? err.msg : "ok");
    if (r < 0)
        goto out;
    c.on_message = on_message;
    c.opaque = &seen;

    struct remote_auth_list_ret auth = {0};
    r = rpc_client_call(&c, REMOTE_PROC_AUTH_LIST, NULL, &auth, &remote, &err);
    ok(r == 0 && auth.types_len == 1 && auth.types[0] == 0, "auth list offers AUTH_NONE");
    remote_auth_list_ret_free(&auth);

    struct remote_connect_open_args open = {.name = "qemu:///system"};
    ok(rpc_client_call(&c, REMOTE_PROC_CONNECT_OPEN, &open, NULL, &remote, &err) == 0,
       "connect open");

    struct remote_connect_get_hostname_ret host = {0};
    r = rpc_client_call(&c, REMOTE_PROC_CONNECT_GET_HOSTNAME, NULL, &host, &remote, &err);
    ok(r == 0 && host.hostname && strcmp(host.hostname, "vireo-test-host") == 0, "hostname");
    remote_connect_get_hostname_ret_free(&host);

    struct remote_node_get_info_ret ni = {0};
    r = rpc_client_call(&c, REMOTE_PROC_NODE_GET_INFO, NULL, &ni, &remote, &err);
    ok(r == 0 && strcmp(ni.model, "vireo-x86_64") == 0 && ni.cpus == 6 && ni.memory == 3145728,
       "node info (char array and hyper)");

    struct remote_connect_list_all_domains_args la = {.need_results = 1, .flags = 0};
    struct remote_connect_list_all_domains_ret lr = {0};
    r = rpc_client_call(&c, REMOTE_PROC_CONNECT_LIST_ALL_DOMAINS, &la, &lr, &remote, &err);
    ok(r == 0 && lr.ret == 1 && lr.domains_len == 1 &&
           strcmp(lr.domains[0].name, "vireo-test") == 0 && lr.domains[0].id == 7,
       "list all domains (array of structures)");
    struct remote_nonnull_domain dom = {0};
    if (r == 0 && lr.domains_len == 1) {
        dom = lr.domains[0];
        dom.name = strdup(dom.name);
    }
    remote_connect_list_all_domains_ret_free(&lr);

    struct remote_domain_lookup_by_name_args ln = {.name = "nope"};
    struct remote_domain_lookup_by_name_ret lnr = {0};
    r = rpc_client_call(&c, REMOTE_PROC_DOMAIN_LOOKUP_BY_NAME, &ln, &lnr, &remote, &err);
    ok(r == -EREMOTEIO && remote.code == RPC_ERR_NO_DOMAIN &&
           strstr(remote.message, "Domain not found"),
       "a server error comes back as rpc_error: %s", remote.message ? remote.message : "");
    rpc_error_free(&remote);

    struct remote_domain_is_updated_args iu = {.dom = dom};
    struct remote_domain_is_updated_ret iur = {0};
    r = rpc_client_call(&c, REMOTE_PROC_DOMAIN_IS_UPDATED, &iu, &iur, &remote, &err);
    ok(r == -EREMOTEIO && remote.code == RPC_ERR_NO_SUPPORT &&
           strstr(remote.message, "virDomainIsUpdated"),
       "NO_SUPPORT names the API");
    rpc_error_free(&remote);

    /* Typed parameters in both directions. */
    struct remote_typed_param tp = {
        .field = "cpu_shares", .type = REMOTE_TYPED_PARAM_ULLONG, .value.ul = 777};
    struct remote_domain_set_scheduler_parameters_flags_args sa = {
        .dom = dom, .params_len = 1, .params = &tp};
    ok(rpc_client_call(&c, REMOTE_PROC_DOMAIN_SET_SCHEDULER_PARAMETERS_FLAGS, &sa, NULL, &remote,
                       &err) == 0,
       "set scheduler parameters");
    struct remote_domain_get_scheduler_parameters_flags_args ga = {.dom = dom, .nparams = 1};
    struct remote_domain_get_scheduler_parameters_flags_ret gr = {0};
    r = rpc_client_call(&c, REMOTE_PROC_DOMAIN_GET_SCHEDULER_PARAMETERS_FLAGS, &ga, &gr, &remote,
                        &err);
    ok(r == 0 && gr.params_len == 1 && gr.params[0].type == REMOTE_TYPED_PARAM_ULLONG &&
           gr.params[0].value.ul == 777,
       "scheduler parameters read back");
    remote_domain_get_scheduler_parameters_flags_ret_free(&gr);

    /* An event after registering. */
    struct remote_connect_domain_event_callback_register_any_args ra = {.eventID = 0};
    struct remote_connect_domain_event_callback_register_any_ret rr = {0};
    r = rpc_client_call(&c, REMOTE_PROC_CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY, &ra, &rr,
                        &remote, &err);
    ok(r == 0 && rr.callbackID == 1, "register for lifecycle events");
    r = rpc_client_poll(&c, 5000, &err);
    ok(r == 1 && seen.events == 1 && seen.event_type == 2 &&
           strcmp(seen.event_dom, "vireo-test") == 0,
       "lifecycle event received and decoded");

    /* Console: open, read the greeting, type, end the stream. */
    struct remote_domain_open_console_args oc = {.dom = dom};
    r = rpc_client_call(&c, REMOTE_PROC_DOMAIN_OPEN_CONSOLE, &oc, NULL, &remote, &err);
    uint32_t console_serial = c.serial;
    ok(r == 0, "open console");
    while (seen.stream.len < 27 && rpc_client_poll(&c, 5000, &err) == 1)
        ;
    ok(seen.stream.len == 27 && memcmp(seen.stream.data, "Vireo test console\r\nlogin: ", 27) == 0,
       "console greeting arrives as stream data");
    buf_reset(&seen.stream);
    rpc_client_stream_send(&c, REMOTE_PROC_DOMAIN_OPEN_CONSOLE, console_serial, RPC_CONTINUE, "hi",
                           2, &err);
    while (seen.stream.len < 2 && rpc_client_poll(&c, 5000, &err) == 1)
        ;
    ok(seen.stream.len == 2 && memcmp(seen.stream.data, "HI", 2) == 0,
       "typed input goes through the stream and comes back");
    rpc_client_stream_send(&c, REMOTE_PROC_DOMAIN_OPEN_CONSOLE, console_serial, RPC_OK, NULL, 0,
                           &err);
    while (!seen.stream_end && rpc_client_poll(&c, 5000, &err) == 1)
        ;
    ok(seen.stream_end, "finishing the stream is confirmed");

    ok(rpc_client_call(&c, REMOTE_PROC_CONNECT_CLOSE, NULL, NULL, &remote, &err) == 0,
       "connect close");
    ok(rpc_client_call(&c, REMOTE_PROC_CONNECT_GET_HOSTNAME, NULL, NULL, &remote, &err) ==
               -EINVAL &&
           strstr(err.msg, "wrong argument or reply structure"),
       "a call with the wrong structures is refused locally");
    remote_nonnull_domain_free(&dom);
    buf_free(&seen.stream);
    rpc_client_close(&c);
out:
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    rmdir(dir);
    return tap_done();
}
