/*
 * hmp-monitor.h - one human monitor: its current CPU, and for a monitor on a character
 * device the line being typed (QEMU's readline mode: greeting, "(qemu) " prompt, echo,
 * backspace, Enter runs the line). human-monitor-command uses a detached one per call.
 */
#ifndef VIREO_VMM_HMP_MONITOR_H
#define VIREO_VMM_HMP_MONITOR_H

struct hmp;
struct hmp_monitor;
struct chardev;

struct hmp_monitor *hmp_monitor_new_detached(struct hmp *h);
/* Takes the chardev's input from now on; greets the client when one is there. */
struct hmp_monitor *hmp_monitor_new_chardev(struct hmp *h, struct chardev *c);
void hmp_monitor_free(struct hmp_monitor *mon);
int hmp_monitor_cpu(const struct hmp_monitor *mon);
void hmp_monitor_set_cpu(struct hmp_monitor *mon, int cpu);

#endif
