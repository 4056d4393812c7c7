/*
 * fuzz-save-image.c - vireod's save image reader on arbitrary bytes: a file
 * given to restore, save-image-dumpxml or save-image-define is untrusted
 * input (libvirt's header, a length, the domain XML, then the VMM's
 * stream). Reading must refuse with a message or give the XML, never
 * crash, leak or read past the data; the XML then goes through the domain
 * parser as a restore would take it.
 */
#include "daemon/domain.h"
#include "daemon/save-image.h"
#include "util/error.h"

#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct vd_save_header h;
    struct verr err = {0};
    if (vd_save_header_parse(data, size, &h, &err) < 0)
        return 0;
    char *xml = NULL;
    size_t rest = size - VD_SAVE_HEADER_SIZE;
    if (vd_save_data_xml(&h, data + VD_SAVE_HEADER_SIZE, rest, &xml, &err) < 0)
        return 0;
    /* A restore with the image's XML, and with itself given as --xml. */
    char *out = NULL;
    if (vd_domain_restore_xml(xml, NULL, &out, &err) == 0) {
        free(out);
        out = NULL;
        if (vd_domain_restore_xml(xml, xml, &out, &err) == 0)
            free(out);
    }
    free(xml);
    /* The same bytes as a file, through the reader restore uses. */
    char path[] = "/tmp/fuzz-save-image-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return 0;
    if (write(fd, data, size) == (ssize_t)size) {
        int ifd = -1;
        xml = NULL;
        if (vd_save_image_open(path, &ifd, &h, &xml, &err) == 0) {
            close(ifd);
            free(xml);
        }
    }
    close(fd);
    unlink(path);
    return 0;
}
