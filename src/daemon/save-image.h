/*
 * save-image.h - the save image vireod writes for virDomainSave and managed
 * save: libvirt's QEMU driver's layout, so the files read the same to
 * both daemons' tools.
 *
 *   header   16 bytes magic "LibvirtQemudSave" ("LibvirtQemudPart" until
 *            the stream is complete), then native-endian u32 version (2),
 *            data_len, was_running, format (0 raw), cookieOffset (0),
 *            14 x u32 unused (0): 92 bytes
 *   data     data_len bytes: the domain XML, NUL-terminated, zero padding
 *   stream   vireo-vmm's VM state stream (docs/state.md), to the end
 *
 * libvirt pads the XML with 64 KiB so that save-image-define can grow it in
 * place; vireod pads a little more, up to a 4 KiB boundary, so the stream
 * starts page-aligned in the file and vireo-vmm can map guest RAM straight
 * from it on restore. data_len says where the stream starts, so libvirt's
 * reader reads these files too.
 */
#ifndef VIREO_DAEMON_SAVE_IMAGE_H
#define VIREO_DAEMON_SAVE_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct verr;

#define VD_SAVE_MAGIC       "LibvirtQemudSave"
#define VD_SAVE_PARTIAL     "LibvirtQemudPart"
#define VD_SAVE_VERSION     2
#define VD_SAVE_HEADER_SIZE 92
/* A bound on data_len: the XML of any real domain is far smaller. */
#define VD_SAVE_DATA_MAX (16u << 20)

struct vd_save_header {
    uint32_t version;
    uint32_t data_len;
    bool was_running;
    uint32_t format;
    uint32_t cookie_offset;
};

/* The fixed header, from its 92 bytes: libvirt's checks and words. */
int vd_save_header_parse(const uint8_t *buf, size_t len, struct vd_save_header *h,
                         struct verr *err);
/* The XML out of the data_len bytes that follow the header (malloc'd). */
int vd_save_data_xml(const struct vd_save_header *h, const uint8_t *data, size_t len, char **xml,
                     struct verr *err);

/*
 * Starts an image for path: a new file beside it (*tmp_path, ".NAME.vireo-
 * XXXXXX"), the header (partial) and the XML written, *fd positioned where
 * the stream goes. path itself is not touched until vd_save_image_commit.
 */
int vd_save_image_create(const char *path, const char *xml, bool was_running, int *fd,
                         char **tmp_path, struct verr *err);
/* The stream is complete: the magic that says so, fsync, rename over path,
 * the directory synced. Closes fd; on error the caller unlinks tmp_path. */
int vd_save_image_commit(int fd, const char *tmp_path, const char *path, struct verr *err);
/* Drops what a finished image left in the page cache (--bypass-cache). */
void vd_save_image_drop_cache(int fd);

/* Opens an image and reads its header and XML: *fd (if fd is not NULL) is
 * left where the stream starts. Errors are one line naming path. */
int vd_save_image_open(const char *path, int *fd, struct vd_save_header *h, char **xml,
                       struct verr *err);
/* Replaces the XML in place (save-image-define): it must fit in data_len.
 * running: 1 / 0 sets was_running, -1 keeps it. */
int vd_save_image_update(const char *path, const char *xml, int running, struct verr *err);

#endif
