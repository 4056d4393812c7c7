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
bool vsh_cmd_migrate_postcopy(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
/* cmd-save-image.c */
bool vsh_cmd_save_image_dumpxml(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_save_image_define(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_save_image_edit(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_managedsave_dumpxml(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_managedsave_define(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_managedsave_edit(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
/* cmd-snapshot.c */
bool vsh_cmd_snapshot_create(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_snapshot_create_as(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_snapshot_current(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_snapshot_delete(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_snapshot_edit(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_snapshot_dumpxml(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_snapshot_info(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_snapshot_list(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_snapshot_parent(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_snapshot_revert(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
/* cmd-domain.c's helpers for the XML commands elsewhere */
char *vsh_read_xml_file(struct vsh_ctl *ctl, const char *path);
int vsh_run_editor(struct vsh_ctl *ctl, const char *path);
/* virsh's "Failed. Try again? [y,n,i,f,?]:" after a failed edit: 'y', 'n', 'i' or 'f'. */
int vsh_ask_again(struct vsh_ctl *ctl, FILE *tty);
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
bool vsh_cmd_blkdeviotune(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_iothreadadd(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_iothreaddel(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_iothreadset(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_iothreadinfo(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_iothreadpin(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_setvcpus(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_setvcpu(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_setmem(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_setmaxmem(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_schedinfo(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_memtune(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_blkiotune(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_domiftune(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
/* cmd-blockjob.c */
bool vsh_cmd_blockcopy(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_blockjob(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_numatune(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_qemu_agent_command(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_domfsfreeze(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_domfsthaw(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_domfsinfo(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_set_user_password(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_guestinfo(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_guestvcpus(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
/* cmd-node.c */
bool vsh_cmd_freecell(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_nodememstats(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_nodecpustats(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_nodecpumap(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_cpu_compare(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_cpu_baseline(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_hypervisor_cpu_compare(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_hypervisor_cpu_baseline(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_cpu_models(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_domblklist(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_change_media(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
/* cmd-hotplug.c */
bool vsh_cmd_attach_device(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_detach_device(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_detach_device_alias(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_update_device(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_qemu_monitor_command(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_attach_disk(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_detach_disk(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_attach_interface(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_detach_interface(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_domiflist(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_dommemstat(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_domblkstat(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_domstats(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_domifstat(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_domblkinfo(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_cpu_stats(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_domtime(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_top(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_domblkerror(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_console(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_event(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
/* cmd-secret.c */
bool vsh_cmd_secret_define(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_secret_undefine(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_secret_list(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_secret_dumpxml(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_secret_set_value(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_secret_get_value(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
extern const struct vsh_opt vsh_opts_secret[], vsh_opts_secret_define[], vsh_opts_secret_list[],
    vsh_opts_secret_set_value[], vsh_opts_secret_get_value[];
extern const struct vsh_opt vsh_opts_secret_dumpxml[], vsh_opts_secret_event[];
/* The secret option names (virsh's lookup: by UUID only), or NULL with virsh's error. */
vir_secret *vsh_lookup_secret(struct vsh_ctl *ctl, const struct vsh_cmd *cmd, const char **uuid);
/* xpath.c: xml printed as it is, or (xpath given) the nodes it selects, as virsh's --xpath and
 * --wrap print them; false after virsh's error. url names the document in parse errors. */
bool vsh_dump_xml(struct vsh_ctl *ctl, const char *xml, const char *url, const char *xpath,
                  bool wrap);
/* The string value of the XPath expression expr (from the root element), or NULL when it is
 * empty or the document does not parse (libvirt's virXPathString). malloc'd. */
char *vsh_xpath_string(const char *xml, const char *expr);
bool vsh_cmd_ttyconsole(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
/* cmd-self.c */
bool vsh_cmd_echo(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_cd(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_pwd(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
extern const struct vsh_opt vsh_opts_echo[], vsh_opts_cd[];
/* cmd-console.c */
bool vsh_cmd_secret_event(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_pool_event(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
extern const struct vsh_opt vsh_opts_pool_event[];
/* cmd-net.c */
bool vsh_cmd_net_list(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_net_info(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_net_dumpxml(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_net_define(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_net_create(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_net_start(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_net_destroy(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_net_undefine(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_net_autostart(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_net_update(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_net_event(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
/* The network option opt names (virsh's lookup: UUID, then name), or NULL with virsh's error. */
vir_network *vsh_lookup_network(struct vsh_ctl *ctl, const struct vsh_cmd *cmd, const char *opt);
bool vsh_cmd_net_uuid(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_net_name(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_net_dhcp_leases(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_net_port_list(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_net_port_dumpxml(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_net_port_delete(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_net_port_create(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_domif_getlink(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_domif_setlink(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_domifaddr(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
/* cmd-display.c */
bool vsh_cmd_vncdisplay(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_domdisplay(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_screenshot(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_send_key(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
/* cmd-pool.c and cmd-vol.c: storage pools and volumes */
bool vsh_cmd_pool_list(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_pool_info(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_pool_define(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_pool_create(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_pool_define_as(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_pool_create_as(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_pool_start(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_pool_build(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_pool_destroy(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_pool_delete(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_pool_undefine(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_pool_refresh(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_pool_autostart(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_pool_dumpxml(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_pool_edit(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_pool_uuid(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_pool_name(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_pool_capabilities(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_vol_list(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_vol_info(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_vol_create_as(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_vol_create(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_vol_create_from(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_vol_clone(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_vol_delete(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_vol_wipe(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_vol_resize(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_vol_upload(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_vol_download(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_vol_dumpxml(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_vol_path(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_vol_key(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_vol_name(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
bool vsh_cmd_vol_pool(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
extern const struct vsh_opt vsh_opts_pool[], vsh_opts_pool_list[], vsh_opts_pool_info[],
    vsh_opts_pool_define[], vsh_opts_pool_create[], vsh_opts_pool_define_as[],
    vsh_opts_pool_create_as[], vsh_opts_pool_start[], vsh_opts_pool_build[],
    vsh_opts_pool_autostart[], vsh_opts_pool_dumpxml[], vsh_opts_vol[], vsh_opts_vol_list[],
    vsh_opts_vol_info[], vsh_opts_vol_create_as[], vsh_opts_vol_create[],
    vsh_opts_vol_create_from[], vsh_opts_vol_clone[], vsh_opts_vol_delete[], vsh_opts_vol_wipe[],
    vsh_opts_vol_resize[], vsh_opts_vol_transfer[], vsh_opts_vol_name[], vsh_opts_vol_pool[];
/* "1.00 GiB" as virsh prints sizes; the pool a --pool value names (prints why not). */
void vsh_pretty_capacity(unsigned long long v, char *buf, size_t size);
vir_storage_pool *vsh_lookup_pool_name(struct vsh_ctl *ctl, const char *name);
/* Completion candidates for the shell's completion script (cmd-complete.c). */
bool vsh_cmd_complete(struct vsh_ctl *ctl, const struct vsh_cmd *cmd);
extern const struct vsh_opt vsh_opts_complete[];
/* The interactive console on dom (cmd-console.c), for console and start/create --console. */
bool vsh_console_attach(struct vsh_ctl *ctl, vir_domain *dom, const char *devname, unsigned flags);

#endif
