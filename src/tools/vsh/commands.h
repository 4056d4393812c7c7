/*
 * commands.h - the handlers behind vsh's command table (cmd-host.c holds the
 * table; cmd-domain.c and cmd-tune.c the domain commands, cmd-complete.c the
 * shell completion's).
 */
#ifndef VIREO_VSH_COMMANDS_H
#define VIREO_VSH_COMMANDS_H

#include "tools/vsh/vsh.h"

bool vsh_cmd_list(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_define(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_undefine(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_create(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_start(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_shutdown(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_destroy(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_reboot(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_reset(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_suspend(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_resume(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_save(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_managedsave(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_managedsave_remove(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_restore(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
/* cmd-migrate.c */
bool vsh_cmd_migrate(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_migrate_setmaxdowntime(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_migrate_getmaxdowntime(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_migrate_setspeed(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_migrate_getspeed(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_domjobinfo(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_domjobabort(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
/* cmd-save-image.c */
bool vsh_cmd_save_image_dumpxml(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_save_image_define(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_save_image_edit(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_managedsave_dumpxml(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_managedsave_define(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_managedsave_edit(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
/* cmd-domain.c's helpers for the XML commands elsewhere */
char *vsh_read_xml_file(struct vsh_ctl *ctl, const char *path);
int vsh_run_editor(struct vsh_ctl *ctl, const char *path);
bool vsh_cmd_dominfo(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_domstate(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_domid(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_domname(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_domuuid(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_dumpxml(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_edit(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_autostart(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_vcpucount(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_vcpuinfo(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_vcpupin(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_emulatorpin(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_setvcpus(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_setmem(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_setmaxmem(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_schedinfo(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_memtune(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_numatune(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
/* cmd-node.c */
bool vsh_cmd_freecell(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_nodememstats(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_nodecpustats(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_nodecpumap(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_domblklist(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_change_media(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_domiflist(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_dommemstat(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_console(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_event(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
/* cmd-display.c */
bool vsh_cmd_vncdisplay(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_domdisplay(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_screenshot(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_send_key(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
/* Completion candidates for the shell's completion script (cmd-complete.c). */
bool vsh_cmd_complete(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
extern const struct vsh_opt vsh_opts_complete[];
/* The interactive console on dom (cmd-console.c), for console and start/create --console. */
bool vsh_console_attach(struct vsh_ctl *ctl, vir_domain *dom, const char *devname, unsigned flags);

#endif
