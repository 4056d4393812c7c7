/*
 * test-vsh-table.c - virsh's table layout: one leading space, columns three
 * apart and padded to their widest cell (the last one unpadded), a dash line
 * as wide as the widths plus three per column; -q drops the header and sizes
 * the columns from the rows alone. Expected strings were taken from virsh.
 */
#include "../tap.h"
#include "tools/vsh/vsh.h"

int main(void)
{
    const char *header[] = {"Id", "Name", "State"};
    struct vsh_table *t = vsh_table_new(3, header);
    const char *r1[] = {"1", "test", "running"};
    const char *r2[] = {"-", "demo", "shut off"};
    vsh_table_add(t, r1);
    vsh_table_add(t, r2);
    struct buf b = BUF_INIT;
    vsh_table_format(t, false, &b);
    is_str(buf_cstr(&b),
           " Id   Name   State\n"
           "-----------------------\n"
           " 1    test   running\n"
           " -    demo   shut off\n",
           "list --all as virsh prints it");
    buf_reset(&b);
    vsh_table_format(t, true, &b);
    is_str(buf_cstr(&b), " 1   test   running\n -   demo   shut off\n", "quiet: rows only");
    vsh_table_free(t);

    t = vsh_table_new(3, header);
    buf_reset(&b);
    vsh_table_format(t, false, &b);
    is_str(buf_cstr(&b), " Id   Name   State\n--------------------\n", "empty list");
    vsh_table_free(t);

    const char *h5[] = {"Interface", "Type", "Source", "Model", "MAC"};
    t = vsh_table_new(5, h5);
    const char *n1[] = {"testnet0", "network", "default", "-", "aa:bb:cc:dd:ee:ff"};
    vsh_table_add(t, n1);
    buf_reset(&b);
    vsh_table_format(t, false, &b);
    is_str(buf_cstr(&b),
           " Interface   Type      Source    Model   MAC\n"
           "------------------------------------------------------------\n"
           " testnet0    network   default   -       aa:bb:cc:dd:ee:ff\n",
           "domiflist as virsh prints it");
    vsh_table_free(t);

    const char *h2[] = {"Id", "Name"};
    t = vsh_table_new(2, h2);
    const char *u1[] = {"1", "d\xc3\xa9mo"};
    vsh_table_add(t, u1);
    buf_reset(&b);
    vsh_table_format(t, false, &b);
    is_str(buf_cstr(&b), " Id   Name\n------------\n 1    d\xc3\xa9mo\n",
           "UTF-8 counts characters");
    vsh_table_free(t);
    buf_free(&b);
    return tap_done();
}
