/*
 * agent.h - vireod's client of the QEMU guest agent (qemu-ga, or anything speaking its
 * protocol) on a unix socket: the host end of a domain's org.qemu.guest_agent.0 channel.
 *
 * It runs on the daemon's loop and never blocks: one command at a time goes out, each
 * preceded by a guest-sync-delimited handshake (a 0xFF byte that resets the agent's parser,
 * a random id, and everything the agent sent before its 0xFF sentinel thrown away), so a
 * reply left over from an earlier command that timed out can never be taken for this one.
 * Further commands wait in a queue. A command ends with the agent's reply, a timeout, or the
 * socket's end; its callback runs on the loop, exactly once.
 */
#ifndef VIREO_DAEMON_AGENT_H
#define VIREO_DAEMON_AGENT_H

#include <stdbool.h>

struct loop;
struct verr;
struct json_object;
struct vd_agent;

/* Timeouts as libvirt's (VIR_DOMAIN_QEMU_AGENT_COMMAND_*): seconds, or one of these. */
enum {
    VD_AGENT_TIMEOUT_BLOCK = -2,   /* wait for the reply as long as it takes */
    VD_AGENT_TIMEOUT_DEFAULT = -1, /* 5 seconds */
    VD_AGENT_TIMEOUT_NOWAIT = 0,   /* sent; the answer is not waited for */
};

/* A command's end. r 0: reply is the agent's whole answer ({"return": ...} or {"error": ...},
 * borrowed for the call; NULL for a command that has no answer). r < 0: error says why in
 * libvirt's words (-ETIMEDOUT "Guest agent not available for now", -EPIPE the agent went
 * away, -ECANCELED the client was closed). */
typedef void (*vd_agent_reply_fn)(void *opaque, int r, struct json_object *reply,
                                  const char *error);

/* Connects to the agent's socket at path and watches it on loop. Returns 0 or -errno. */
int vd_agent_open(struct loop *loop, const char *path, struct vd_agent **out, struct verr *err);
/* The same on a connected, non-blocking stream socket, which the client owns from now on
 * (closed on failure too). */
int vd_agent_open_fd(struct loop *loop, int fd, struct vd_agent **out, struct verr *err);
/* Ends the connection; commands still pending get -ECANCELED first. NULL is ignored. */
void vd_agent_close(struct vd_agent *a);
/* Whether the socket is still connected (false after the agent end's EOF). */
bool vd_agent_alive(const struct vd_agent *a);

/*
 * Queues a command: cmd is a JSON object with "execute" (and maybe "arguments"). seconds is a
 * timeout as above. no_reply: the agent answers only on failure (guest-shutdown,
 * guest-suspend-*): the command ends well once written and synced. Returns 0 (fn will be
 * called) or -errno with err filled (fn will not be).
 */
int vd_agent_command(struct vd_agent *a, const char *cmd, int seconds, bool no_reply,
                     vd_agent_reply_fn fn, void *opaque, struct verr *err);

/*
 * libvirt's verdict on a reply: 0 for a "return", else -EIO with err "unable to execute QEMU
 * agent command 'NAME': DESC" (NAME the command's "execute"). reply NULL counts as a return.
 */
int vd_agent_check_reply(const char *cmd, struct json_object *reply, struct verr *err);

#endif
