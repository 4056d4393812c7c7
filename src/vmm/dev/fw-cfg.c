/*
 * fw-cfg.c - the fw_cfg item store, its transfers, and the fw_cfg_io device
 * of the pc and q35 machines (see fw-cfg.h).
 *
 * Reads past the end of an item return zeros (the data port) or fill the
 * rest of the guest buffer with zeros (DMA), as QEMU does. Writes through the
 * data port have been ignored by QEMU since 2.4 and are here; DMA writes are
 * refused with the error bit: no item vireo-vmm offers is writable.
 */
#include "vmm/dev/fw-cfg.h"
#include "util/mem.h"
#include "vmm/boot/bytes.h"
#include "vmm/dev/device.h"
#include "vmm/vm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define PORT_FW_CFG     0x510 /* selector (2 bytes), data (1 byte) */
#define PORT_FW_CFG_DMA 0x514 /* 8 bytes, big-endian address */

void fw_cfg_init(struct fw_cfg *c)
{
    memset(c, 0, sizeof(*c));
}

static void item_free(struct fw_cfg_item *it)
{
    free(it->data);
    it->data = NULL;
    it->len = 0;
}

void fw_cfg_free(struct fw_cfg *c)
{
    for (unsigned i = 0; i < FW_CFG_NR_FIXED; i++)
        item_free(&c->fixed[i]);
    for (unsigned i = 0; i < FW_CFG_NR_ARCH; i++)
        item_free(&c->arch[i]);
    for (unsigned i = 0; i < c->nr_files; i++)
        item_free(&c->files[i].item);
    free(c->files);
    item_free(&c->dir);
    memset(c, 0, sizeof(*c));
}

static struct fw_cfg_item *item_for_key(struct fw_cfg *c, uint16_t key)
{
    if (key < FW_CFG_NR_FIXED)
        return key == FW_CFG_FILE_DIR ? &c->dir : &c->fixed[key];
    if (key >= FW_CFG_ARCH_LOCAL && key < FW_CFG_ARCH_LOCAL + FW_CFG_NR_ARCH)
        return &c->arch[key - FW_CFG_ARCH_LOCAL];
    if (c->sealed && key >= FW_CFG_FILE_FIRST && key < FW_CFG_FILE_FIRST + c->nr_files)
        return &c->files[key - FW_CFG_FILE_FIRST].item;
    return NULL;
}

void fw_cfg_set(struct fw_cfg *c, uint16_t key, const void *data, uint32_t len)
{
    struct fw_cfg_item *it = item_for_key(c, key);
    if (!it)
        abort(); /* a key outside the fixed ranges: a bug in the caller */
    item_free(it);
    it->data = xmalloc(len ? len : 1);
    if (len)
        memcpy(it->data, data, len);
    it->len = len;
}

void fw_cfg_set_u16(struct fw_cfg *c, uint16_t key, uint16_t v)
{
    uint8_t b[2];
    put16(b, v);
    fw_cfg_set(c, key, b, sizeof(b));
}

void fw_cfg_set_u32(struct fw_cfg *c, uint16_t key, uint32_t v)
{
    uint8_t b[4];
    put32(b, v);
    fw_cfg_set(c, key, b, sizeof(b));
}

void fw_cfg_set_u64(struct fw_cfg *c, uint16_t key, uint64_t v)
{
    uint8_t b[8];
    put64(b, v);
    fw_cfg_set(c, key, b, sizeof(b));
}

const struct fw_cfg_file *fw_cfg_find_file(const struct fw_cfg *c, const char *name)
{
    for (unsigned i = 0; i < c->nr_files; i++)
        if (!strcmp(c->files[i].name, name))
            return &c->files[i];
    return NULL;
}

int fw_cfg_add_file_owned(struct fw_cfg *c, const char *name, void *data, uint32_t len,
                          struct verr *err)
{
    int r = 0;
    if (strlen(name) >= FW_CFG_NAME_MAX)
        r = verr_set(err, ENAMETOOLONG, "fw_cfg: file name '%s' is longer than %u bytes", name,
                     FW_CFG_NAME_MAX - 1);
    else if (fw_cfg_find_file(c, name))
        r = verr_set(err, EEXIST, "fw_cfg: duplicate file '%s'", name);
    else if (c->nr_files >= FW_CFG_MAX_FILES)
        r = verr_set(err, ENOSPC, "fw_cfg: more than %u files", FW_CFG_MAX_FILES);
    else if (c->sealed)
        r = verr_set(err, EBUSY, "fw_cfg: file '%s' added after the directory was built", name);
    if (r < 0) {
        free(data);
        return r;
    }
    c->files = xreallocarray(c->files, c->nr_files + 1, sizeof(*c->files));
    struct fw_cfg_file *f = &c->files[c->nr_files++];
    memset(f, 0, sizeof(*f));
    strcpy(f->name, name);
    f->item.data = data ? data : xmalloc(1);
    f->item.len = len;
    return 0;
}

int fw_cfg_add_file(struct fw_cfg *c, const char *name, const void *data, uint32_t len,
                    struct verr *err)
{
    void *copy = xmalloc(len ? len : 1);
    if (len)
        memcpy(copy, data, len);
    return fw_cfg_add_file_owned(c, name, copy, len, err);
}

static int cmp_file(const void *a, const void *b)
{
    return strcmp(((const struct fw_cfg_file *)a)->name, ((const struct fw_cfg_file *)b)->name);
}

void fw_cfg_seal(struct fw_cfg *c)
{
    if (c->nr_files)
        qsort(c->files, c->nr_files, sizeof(*c->files), cmp_file);
    /* Directory: be32 count, then per file be32 size, be16 select, be16 reserved, name[56]. */
    uint32_t len = 4 + 64 * c->nr_files;
    uint8_t *d = xcalloc(1, len);
    put_be32(d, c->nr_files);
    for (unsigned i = 0; i < c->nr_files; i++) {
        struct fw_cfg_file *f = &c->files[i];
        f->select = (uint16_t)(FW_CFG_FILE_FIRST + i);
        uint8_t *e = d + 4 + 64 * i;
        put_be32(e, f->item.len);
        put_be16(e + 4, f->select);
        memcpy(e + 8, f->name, strlen(f->name));
    }
    item_free(&c->dir);
    c->dir.data = d;
    c->dir.len = len;
    c->sealed = true;
}

void fw_cfg_set_refresh(struct fw_cfg *c, const char *name,
                        void (*fn)(void *opaque, struct fw_cfg_item *it), void *opaque)
{
    for (unsigned i = 0; i < c->nr_files; i++) {
        if (!strcmp(c->files[i].name, name)) {
            c->files[i].refresh = fn;
            c->files[i].refresh_opaque = opaque;
        }
    }
}

void fw_cfg_select(struct fw_cfg *c, uint16_t key)
{
    c->key = key;
    c->offset = 0;
    if (c->sealed && key >= FW_CFG_FILE_FIRST && key < FW_CFG_FILE_FIRST + c->nr_files) {
        struct fw_cfg_file *f = &c->files[key - FW_CFG_FILE_FIRST];
        if (f->refresh)
            f->refresh(f->refresh_opaque, &f->item);
    }
}

uint8_t fw_cfg_read_byte(struct fw_cfg *c)
{
    const struct fw_cfg_item *it = item_for_key(c, c->key);
    if (!it || c->offset >= it->len)
        return 0;
    return it->data[c->offset++];
}

int fw_cfg_dma(struct fw_cfg *c, const struct guest_mem *gm, uint64_t desc)
{
    uint8_t *d = guest_mem_ptr(gm, desc, 16);
    if (!d)
        return -EFAULT;
    uint32_t control = get_be32(d), length = get_be32(d + 4);
    uint64_t addr = get_be64(d + 8);
    if (control & FW_CFG_DMA_SELECT)
        fw_cfg_select(c, (uint16_t)(control >> 16));
    const struct fw_cfg_item *it = item_for_key(c, c->key);
    uint32_t avail = it && c->offset < it->len ? it->len - c->offset : 0;
    uint32_t status = 0;
    if (control & FW_CFG_DMA_READ) {
        uint8_t *dst = length ? guest_mem_ptr(gm, addr, length) : NULL;
        if (length && !dst) {
            status = FW_CFG_DMA_ERROR;
        } else if (length) {
            uint32_t n = length < avail ? length : avail;
            /* The descriptor may lie inside the buffer: it is rewritten last, below. */
            if (n)
                memmove(dst, it->data + c->offset, n);
            memset(dst + n, 0, length - n);
            guest_mem_mark_dirty(gm, dst, length); /* a live migration resends it */
            c->offset += n;
        }
    } else if (control & FW_CFG_DMA_WRITE) {
        status = FW_CFG_DMA_ERROR; /* no item is writable */
    } else if (control & FW_CFG_DMA_SKIP) {
        c->offset += length < avail ? length : avail;
    }
    /* The status goes where the descriptor was; re-resolve (it is RAM: checked above). */
    put_be32(d, status);
    guest_mem_mark_dirty(gm, d, 4);
    return 0;
}

/* --- the device -------------------------------------------------------------------------- */

struct fw_cfg_dev {
    struct vm *vm;
    pthread_mutex_t lock;
    struct fw_cfg cfg;
    uint32_t dma_high;
};

struct fw_cfg *fw_cfg_of(struct device *dev)
{
    return &((struct fw_cfg_dev *)dev->priv)->cfg;
}

static void port_read(void *opaque, uint64_t offset, uint8_t *data, unsigned size)
{
    struct fw_cfg_dev *f = opaque;
    memset(data, 0, size);
    if (offset != 1 || size != 1)
        return; /* the selector is write-only; the data register is one byte wide */
    pthread_mutex_lock(&f->lock);
    data[0] = fw_cfg_read_byte(&f->cfg);
    pthread_mutex_unlock(&f->lock);
}

static void port_write(void *opaque, uint64_t offset, const uint8_t *data, unsigned size)
{
    struct fw_cfg_dev *f = opaque;
    if (offset != 0 || size != 2)
        return; /* data port writes: ignored, as QEMU since 2.4 */
    pthread_mutex_lock(&f->lock);
    fw_cfg_select(&f->cfg, get16(data));
    pthread_mutex_unlock(&f->lock);
}

static void dma_read(void *opaque, uint64_t offset, uint8_t *data, unsigned size)
{
    (void)opaque;
    for (unsigned i = 0; i < size; i++)
        data[i] = offset + i < 8 ? (uint8_t)FW_CFG_DMA_SIGNATURE[offset + i] : 0;
}

static void dma_write(void *opaque, uint64_t offset, const uint8_t *data, unsigned size)
{
    struct fw_cfg_dev *f = opaque;
    if (size != 4 || (offset != 0 && offset != 4))
        return;
    pthread_mutex_lock(&f->lock);
    if (offset == 0) {
        f->dma_high = get_be32(data);
    } else {
        uint64_t desc = (uint64_t)f->dma_high << 32 | get_be32(data);
        f->dma_high = 0;
        (void)fw_cfg_dma(&f->cfg, &f->vm->mem, desc); /* a descriptor outside RAM: dropped */
    }
    pthread_mutex_unlock(&f->lock);
}

static const struct bus_ops port_ops = {port_read, port_write};
static const struct bus_ops dma_ops = {dma_read, dma_write};

static int fw_cfg_dev_create(struct device *dev, struct verr *err)
{
    struct fw_cfg_dev *f = xcalloc(1, sizeof(*f));
    f->vm = dev->vm;
    pthread_mutex_init(&f->lock, NULL);
    fw_cfg_init(&f->cfg);
    fw_cfg_set(&f->cfg, FW_CFG_SIGNATURE, "QEMU", 4);
    fw_cfg_set_u32(&f->cfg, FW_CFG_ID, FW_CFG_ID_TRADITIONAL | FW_CFG_ID_DMA);
    int r = bus_register(&dev->vm->pio, PORT_FW_CFG, 2, &port_ops, f, "fw_cfg", err);
    if (r == 0)
        r = bus_register(&dev->vm->pio, PORT_FW_CFG_DMA, 8, &dma_ops, f, "fw_cfg-dma", err);
    if (r < 0) {
        bus_unregister(&dev->vm->pio, PORT_FW_CFG);
        fw_cfg_free(&f->cfg);
        pthread_mutex_destroy(&f->lock);
        free(f);
        return r;
    }
    dev->priv = f;
    return 0;
}

static void fw_cfg_dev_reset(struct device *dev)
{
    struct fw_cfg_dev *f = dev->priv;
    pthread_mutex_lock(&f->lock);
    fw_cfg_select(&f->cfg, 0);
    f->dma_high = 0;
    pthread_mutex_unlock(&f->lock);
}

static void fw_cfg_dev_free(struct device *dev)
{
    struct fw_cfg_dev *f = dev->priv;
    fw_cfg_free(&f->cfg);
    pthread_mutex_destroy(&f->lock);
    free(f);
}

/* State: "fw_cfg.xfer" (selected key le16, offset le32, the DMA address's high half le32,
 * the selected item's length le32). The items are this VM's own, built from the same
 * configuration; the selected one must have the saved length (else the firmware's read
 * would go on in other data). Selecting it again refreshes it (the ACPI tables). */
static int fw_cfg_dev_save(struct device *dev, struct dev_state_writer *w, struct verr *err)
{
    struct fw_cfg_dev *f = dev->priv;
    uint8_t x[14];
    pthread_mutex_lock(&f->lock);
    const struct fw_cfg_item *it = item_for_key(&f->cfg, f->cfg.key);
    put16(x, f->cfg.key);
    put32(x + 2, f->cfg.offset);
    put32(x + 6, f->dma_high);
    put32(x + 10, it ? it->len : 0);
    pthread_mutex_unlock(&f->lock);
    return w->put(w, "fw_cfg.xfer", x, sizeof(x), err);
}

static int fw_cfg_dev_load(struct device *dev, struct dev_state_reader *r, struct verr *err)
{
    struct fw_cfg_dev *f = dev->priv;
    uint8_t x[14];
    int rc = r->get(r, "fw_cfg.xfer", x, sizeof(x), err);
    if (rc < 0)
        return rc;
    uint16_t key = get16(x);
    uint32_t off = get32(x + 2), len = get32(x + 10);
    pthread_mutex_lock(&f->lock);
    fw_cfg_select(&f->cfg, key);
    const struct fw_cfg_item *it = item_for_key(&f->cfg, key);
    uint32_t mine = it ? it->len : 0;
    if (len != mine)
        rc = verr_set(err, EINVAL,
                      "field 'fw_cfg.xfer': item 0x%x had %u bytes when saved, here %u (another "
                      "configuration)",
                      key, len, mine);
    else if (off > len)
        rc = verr_set(err, EINVAL, "field 'fw_cfg.xfer': offset %u past the item's %u bytes", off,
                      len);
    else {
        f->cfg.offset = off;
        f->dma_high = get32(x + 6);
    }
    pthread_mutex_unlock(&f->lock);
    return rc;
}

static const struct dev_type fw_cfg_type = {
    .name = "fw_cfg_io",
    .desc = "QEMU firmware configuration interface (I/O 0x510, DMA 0x514)",
    .category = DEV_CAT_MISC,
    .bus = DEV_BUS_SYSTEM,
    .singleton = true,
    .create = fw_cfg_dev_create,
    .reset = fw_cfg_dev_reset,
    .free = fw_cfg_dev_free,
    .state_version = 1,
    .save = fw_cfg_dev_save,
    .load = fw_cfg_dev_load,
};

const struct dev_type *const dev_types_fw_cfg[] = {&fw_cfg_type, NULL};
