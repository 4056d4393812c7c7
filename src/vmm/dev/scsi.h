/*
 * scsi.h - SCSI target emulation for vireo-vmm's disks and CD-ROMs: what a
 * logical unit (scsi-hd, scsi-cd) answers to a command descriptor block, apart
 * from any transport. virtio-scsi (virtio-scsi.c) decodes its requests,
 * hands each CDB to its logical unit here and carries back status, sense and
 * data; a fuzz target drives the same code with arbitrary CDBs.
 *
 * Commands (T10 SPC-4, SBC-3, MMC-6), each with the sense data of its refusals:
 *   all:   TEST UNIT READY, REQUEST SENSE, INQUIRY (standard data and VPD pages
 *          0x00, 0x80, 0x83; disks also 0xb0, 0xb1, 0xb2), MODE SENSE(6/10)
 *          and MODE SELECT(6/10) (read-write error recovery, caching with its
 *          changeable WCE bit, CD capabilities; the write-protect bit),
 *          START STOP UNIT, PREVENT ALLOW MEDIUM REMOVAL, READ CAPACITY(10/16),
 *          READ/WRITE(6/10/12/16) with FUA, VERIFY(10/12/16), SEEK(10),
 *          SYNCHRONIZE CACHE(10/16); REPORT LUNS is the target's (scsi_report_luns)
 *   disks: UNMAP, WRITE SAME(10/16) (zeroes and UNMAP become write-zeroes and
 *          discard; other patterns are written)
 *   CDs:   GET CONFIGURATION, GET EVENT STATUS NOTIFICATION (media class),
 *          READ TOC/PMA/ATIP (formats 0, 1, 2), READ DISC INFORMATION, MECHANISM
 *          STATUS, SET CD SPEED; 2048-byte blocks
 * Anything else is CHECK CONDITION, ILLEGAL REQUEST, INVALID COMMAND OPERATION
 * CODE. A pending unit attention (power on or reset, medium changes, capacity
 * change) is reported on the next command but INQUIRY, REPORT LUNS, GET
 * CONFIGURATION and GET EVENT STATUS NOTIFICATION, as QEMU's scsi-disk does.
 *
 * Everything in a CDB and a parameter list is untrusted: lengths are bounded
 * by the buffer the transport has (a command that would move more than that
 * is an overrun, the transport's answer), block ranges by the medium, list
 * lengths by the list.
 *
 * Threads: scsi_lun_start runs on the transport's I/O thread and answers
 * every command that needs no block I/O at once; the rest (SCSI_IO) run with
 * scsi_lun_run_io on a worker (blocking calls through the drive, blockdev.h).
 * The unit's state (unit attention, tray events, write cache) is under its
 * own lock.
 */
#ifndef VIREO_VMM_DEV_SCSI_H
#define VIREO_VMM_DEV_SCSI_H

#include "util/error.h"
#include "util/log.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct blockdev;

/* Status codes (SAM-5). */
#define SCSI_GOOD            0x00
#define SCSI_CHECK_CONDITION 0x02

/* Sense keys. */
#define SENSE_NO_SENSE        0x0
#define SENSE_NOT_READY       0x2
#define SENSE_MEDIUM_ERROR    0x3
#define SENSE_HARDWARE_ERROR  0x4
#define SENSE_ILLEGAL_REQUEST 0x5
#define SENSE_UNIT_ATTENTION  0x6
#define SENSE_DATA_PROTECT    0x7
#define SENSE_ABORTED_COMMAND 0xb
#define SENSE_MISCOMPARE      0xe

/* Operation codes. */
#define SCSI_TEST_UNIT_READY   0x00
#define SCSI_REQUEST_SENSE     0x03
#define SCSI_READ_6            0x08
#define SCSI_WRITE_6           0x0a
#define SCSI_INQUIRY           0x12
#define SCSI_MODE_SELECT_6     0x15
#define SCSI_MODE_SENSE_6      0x1a
#define SCSI_START_STOP_UNIT   0x1b
#define SCSI_PREVENT_ALLOW     0x1e
#define SCSI_READ_CAPACITY_10  0x25
#define SCSI_READ_10           0x28
#define SCSI_WRITE_10          0x2a
#define SCSI_SEEK_10           0x2b
#define SCSI_WRITE_VERIFY_10   0x2e
#define SCSI_VERIFY_10         0x2f
#define SCSI_SYNC_CACHE_10     0x35
#define SCSI_WRITE_SAME_10     0x41
#define SCSI_UNMAP             0x42
#define SCSI_READ_TOC          0x43
#define SCSI_GET_CONFIGURATION 0x46
#define SCSI_GET_EVENT_STATUS  0x4a
#define SCSI_READ_DISC_INFO    0x51
#define SCSI_MODE_SELECT_10    0x55
#define SCSI_MODE_SENSE_10     0x5a
#define SCSI_READ_16           0x88
#define SCSI_WRITE_16          0x8a
#define SCSI_WRITE_VERIFY_16   0x8e
#define SCSI_VERIFY_16         0x8f
#define SCSI_SYNC_CACHE_16     0x91
#define SCSI_WRITE_SAME_16     0x93
#define SCSI_SERVICE_ACTION_IN 0x9e /* service action 0x10: READ CAPACITY(16) */
#define SCSI_REPORT_LUNS       0xa0
#define SCSI_READ_12           0xa8
#define SCSI_WRITE_12          0xaa
#define SCSI_WRITE_VERIFY_12   0xae
#define SCSI_VERIFY_12         0xaf
#define SCSI_SET_CD_SPEED      0xbb
#define SCSI_MECHANISM_STATUS  0xbd

#define SCSI_SENSE_LEN  18 /* fixed format sense data */
#define SCSI_CDB_MAX    32 /* virtio-scsi's cdb_size */
#define SCSI_MAX_LUN    16383
#define SCSI_MAX_TARGET 255

struct scsi_sense {
    uint8_t key, asc, ascq;
};

/* The sense codes the emulation uses, as key/ASC/ASCQ (SPC-4 annex D). */
#define SENSE_CODE(k, a, q)               ((struct scsi_sense){(k), (a), (q)})
#define SENSE_OK                          SENSE_CODE(SENSE_NO_SENSE, 0x00, 0x00)
#define SENSE_INVALID_OPCODE              SENSE_CODE(SENSE_ILLEGAL_REQUEST, 0x20, 0x00)
#define SENSE_LBA_OUT_OF_RANGE            SENSE_CODE(SENSE_ILLEGAL_REQUEST, 0x21, 0x00)
#define SENSE_INVALID_FIELD               SENSE_CODE(SENSE_ILLEGAL_REQUEST, 0x24, 0x00)
#define SENSE_LUN_NOT_SUPPORTED           SENSE_CODE(SENSE_ILLEGAL_REQUEST, 0x25, 0x00)
#define SENSE_INVALID_PARAM               SENSE_CODE(SENSE_ILLEGAL_REQUEST, 0x26, 0x00)
#define SENSE_INVALID_PARAM_LEN           SENSE_CODE(SENSE_ILLEGAL_REQUEST, 0x1a, 0x00)
#define SENSE_SAVING_UNSUPPORTED          SENSE_CODE(SENSE_ILLEGAL_REQUEST, 0x39, 0x00)
#define SENSE_REMOVAL_PREVENTED           SENSE_CODE(SENSE_ILLEGAL_REQUEST, 0x53, 0x02)
#define SENSE_NO_MEDIUM                   SENSE_CODE(SENSE_NOT_READY, 0x3a, 0x00)
#define SENSE_NO_MEDIUM_TRAY_CLOSED       SENSE_CODE(SENSE_NOT_READY, 0x3a, 0x01)
#define SENSE_NO_MEDIUM_TRAY_OPEN         SENSE_CODE(SENSE_NOT_READY, 0x3a, 0x02)
#define SENSE_NOT_READY_REMOVAL_PREVENTED SENSE_CODE(SENSE_NOT_READY, 0x53, 0x02)
#define SENSE_UA_RESET                    SENSE_CODE(SENSE_UNIT_ATTENTION, 0x29, 0x00)
#define SENSE_UA_MEDIUM_CHANGED           SENSE_CODE(SENSE_UNIT_ATTENTION, 0x28, 0x00)
#define SENSE_UA_NO_MEDIUM                SENSE_CODE(SENSE_UNIT_ATTENTION, 0x3a, 0x00)
#define SENSE_UA_CAPACITY_CHANGED         SENSE_CODE(SENSE_UNIT_ATTENTION, 0x2a, 0x09)
#define SENSE_WRITE_PROTECTED             SENSE_CODE(SENSE_DATA_PROTECT, 0x27, 0x00)
#define SENSE_SPACE_ALLOC_FAILED          SENSE_CODE(SENSE_DATA_PROTECT, 0x27, 0x07)
#define SENSE_IO_ERROR                    SENSE_CODE(SENSE_ABORTED_COMMAND, 0x00, 0x06)
#define SENSE_MISCOMPARE_VERIFY           SENSE_CODE(SENSE_MISCOMPARE, 0x1d, 0x00)

/* Writes fixed-format sense data (SPC-4 4.5.3) into buf (SCSI_SENSE_LEN bytes). */
void scsi_sense_fixed(struct scsi_sense s, uint8_t *buf);

/* Data direction of a command, from the initiator's side. */
enum scsi_dir {
    SCSI_DIR_NONE,
    SCSI_DIR_IN,  /* device to initiator (READ, INQUIRY...) */
    SCSI_DIR_OUT, /* initiator to device (WRITE, MODE SELECT...) */
};

/* A decoded CDB: what the transport needs before it runs (length, direction, bytes). */
struct scsi_cdb {
    uint8_t opcode;
    unsigned len;      /* CDB length from the group code (6, 10, 12, 16) */
    enum scsi_dir dir; /* SCSI_DIR_NONE also when the command moves no data this time */
    uint64_t xfer;     /* bytes the command moves: allocation length, parameter list length,
                        * or blocks times the block size */
    uint64_t lba;      /* media access commands */
    uint32_t blocks;
    bool fua;
    bool known; /* an operation code this unit implements */
};

/* Decodes a CDB of up to len bytes for a unit with block_size-byte blocks; a CDB shorter
 * than its group's length, or of an unknown operation code, decodes with known false and
 * no data (the command then fails with sense). Pure. */
void scsi_cdb_decode(const uint8_t *cdb, size_t len, unsigned block_size, struct scsi_cdb *out);

enum scsi_lun_kind {
    SCSI_LUN_DISK, /* scsi-hd: SBC, 512-byte blocks */
    SCSI_LUN_CD,   /* scsi-cd: MMC, 2048-byte blocks, removable with a tray */
};

/* What scsi-hd/scsi-cd are configured with. */
struct scsi_lun_config {
    enum scsi_lun_kind kind;
    bool removable;        /* scsi-hd removable=on (always for a CD) */
    const char *serial;    /* VPD 0x80; NULL: none */
    const char *device_id; /* VPD 0x83 ASCII designator; NULL: the serial, else the drive id */
    uint64_t wwn;          /* VPD 0x83 NAA designator; 0: none */
    const char *vendor, *product, *version; /* INQUIRY; NULL: QEMU's */
    uint16_t rotation_rate;                 /* VPD 0xb1 */
    bool discard;                           /* the drive was opened with discard=unmap */
    bool write_cache;                       /* WCE at power-on (the cache mode writes back) */
};

/* One logical unit. */
struct scsi_lun {
    struct scsi_lun_config cfg;
    struct blockdev *bdev;
    unsigned target, lun;
    unsigned block_size; /* 512 or 2048 */
    char vendor[9], product[17], version[5];
    char device_id[256];
    /* Reports a change the transport should signal (virtio-scsi's parameter-change event);
     * any thread. NULL: none. */
    void (*report_change)(void *opaque, struct scsi_lun *lun, struct scsi_sense sense);
    void *report_opaque;
    /* State under lock. */
    pthread_mutex_t lock;
    struct scsi_sense ua; /* pending unit attention; key 0: none */
    bool media_changed;   /* report MEDIUM MAY HAVE CHANGED after the NO MEDIUM attention */
    bool media_event;     /* GET EVENT STATUS NOTIFICATION: new media */
    bool eject_request;   /* GET EVENT STATUS NOTIFICATION: eject requested */
    bool wce;             /* caching mode page's write cache enable */
    bool wce_default;
    struct ratelimit rl; /* I/O error messages (under lock) */
    unsigned inflight;   /* commands the transport has started (under the bus's lock) */
};

/* Sets up a logical unit on bdev (drive id drive_id for VPD 0x83); reports a power-on
 * unit attention first. */
void scsi_lun_init(struct scsi_lun *lun, const struct scsi_lun_config *cfg, struct blockdev *bdev,
                   const char *drive_id);
void scsi_lun_destroy(struct scsi_lun *lun);
/* Reset (target reset, bus reset, system reset): unit attention RESET; system also unlocks
 * the medium and puts the write cache back to its power-on setting. */
void scsi_lun_reset(struct scsi_lun *lun, bool system);
/* The drive's medium came (load) or went, by QMP (blockdev_dev_ops.change_media). */
void scsi_lun_media_changed(struct scsi_lun *lun, bool load);
/* QMP asked to open the locked tray (blockdev_dev_ops.eject_request). */
void scsi_lun_eject_request(struct scsi_lun *lun);
/* The medium was resized (block_resize): CAPACITY DATA HAS CHANGED. */
void scsi_lun_resized(struct scsi_lun *lun);

/* One command for a logical unit. The transport fills the CDB and the data buffer: for
 * SCSI_DIR_IN the buffers the unit writes into (data_len bytes in iov), for SCSI_DIR_OUT
 * the ones it reads. The unit fills status, sense (when CHECK CONDITION) and transferred. */
struct scsi_cmd {
    uint8_t cdb_bytes[SCSI_CDB_MAX];
    size_t cdb_len;
    struct scsi_cdb cdb;
    const struct iovec *iov;
    int iovcnt;
    uint64_t data_len;
    uint8_t status;
    struct scsi_sense sense;
    uint64_t transferred; /* bytes moved into or out of the buffers */
};

enum scsi_start {
    SCSI_DONE, /* answered: status, sense and data are final */
    SCSI_IO,   /* needs block I/O: call scsi_lun_run_io (a blocking call) */
};
/* Checks cmd (cmd->cdb decoded by the caller with scsi_cdb_decode and lun->block_size; for
 * a SCSI_IO command iov holds exactly cdb.xfer bytes) and answers what needs no I/O. */
enum scsi_start scsi_lun_start(struct scsi_lun *lun, struct scsi_cmd *cmd);
/* Runs a command scsi_lun_start returned SCSI_IO for. */
void scsi_lun_run_io(struct scsi_lun *lun, struct scsi_cmd *cmd);

/* Answers for a LUN address with no logical unit on a target that has others (SPC-4: the
 * INQUIRY peripheral qualifier 3, REQUEST SENSE, else LOGICAL UNIT NOT SUPPORTED). */
void scsi_no_lun_command(struct scsi_cmd *cmd);
/* REPORT LUNS for a target whose units are luns[0..n) (sorted or not). */
void scsi_report_luns(struct scsi_cmd *cmd, const unsigned *luns, unsigned n);

/*
 * A SCSI bus: the logical units a controller reaches by target and LUN. A controller's
 * device (its struct device priv) starts with one, so scsi-hd and scsi-cd attach to the
 * controller they name with bus= (scsi-disk.c). The transport takes a unit for each command
 * (scsi_bus_get) and gives it back when the command is done (scsi_bus_put); a unit leaves
 * the bus, and a reset of one runs, only once nothing of it is in flight.
 */
struct scsi_bus {
    /* The controller stops taking commands (idempotent; a unit calls it before it leaves, so
     * no command finds a unit that is going away). */
    void (*stop)(struct scsi_bus *bus);
    /* Given to each unit that attaches (its report_change). */
    void (*report_change)(void *opaque, struct scsi_lun *lun, struct scsi_sense sense);
    void *report_opaque;
    pthread_mutex_t lock;
    pthread_cond_t idle;
    struct scsi_lun **luns;
    unsigned nr;
};

void scsi_bus_init(struct scsi_bus *bus);
void scsi_bus_destroy(struct scsi_bus *bus);
void scsi_bus_attach(struct scsi_bus *bus, struct scsi_lun *lun);
/* Waits until nothing of lun is in flight, then takes it off the bus. */
void scsi_bus_detach(struct scsi_bus *bus, struct scsi_lun *lun);
/* The unit at target/lun, counted in flight; NULL when none, with *target_exists saying
 * whether the target has other units (the target then answers, scsi_no_lun_command). */
struct scsi_lun *scsi_bus_get(struct scsi_bus *bus, unsigned target, unsigned lun,
                              bool *target_exists);
void scsi_bus_put(struct scsi_bus *bus, struct scsi_lun *lun);
/* Waits until nothing of lun (NULL: of any unit on target; target -1: of any unit) is in
 * flight. The caller must not hold a unit itself. */
void scsi_bus_drain(struct scsi_bus *bus, int target, struct scsi_lun *lun);
/* The LUNs of target into out (at most max); returns how many. */
unsigned scsi_bus_target_luns(struct scsi_bus *bus, unsigned target, unsigned *out, unsigned max);

/* Helpers the command files share (scsi-lun.c, scsi-mmc.c). */
void scsi_cmd_fail(struct scsi_cmd *cmd, struct scsi_sense sense);
/* Copies up to len bytes of data to the initiator's buffers, clipped to the allocation
 * length (cmd->cdb.xfer); GOOD status. */
void scsi_cmd_reply(struct scsi_cmd *cmd, const void *data, size_t len);
/* Reads up to len bytes of the initiator's parameter list; returns bytes read. */
size_t scsi_cmd_read_params(const struct scsi_cmd *cmd, void *buf, size_t len);

/* MMC (scsi-mmc.c): the CD-ROM commands; false when opcode is not one of them. */
bool scsi_mmc_command(struct scsi_lun *lun, struct scsi_cmd *cmd);
/* The CD capabilities mode page (0x2a) into p (returns its length). */
size_t scsi_mmc_mode_page(struct scsi_lun *lun, uint8_t *p, bool changeable);

static inline void scsi_put_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static inline void scsi_put_be32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (24 - 8 * i));
}
static inline void scsi_put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (56 - 8 * i));
}
static inline uint32_t scsi_be16(const uint8_t *p)
{
    return (uint32_t)p[0] << 8 | p[1];
}
static inline uint32_t scsi_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint64_t scsi_be64(const uint8_t *p)
{
    return (uint64_t)scsi_be32(p) << 32 | scsi_be32(p + 4);
}

struct device;
/* The unit of a scsi-hd or scsi-cd device (scsi-disk.c): its target and LUN, for the
 * controller's hot-plug events. */
const struct scsi_lun *scsi_disk_lun(const struct device *dev);

#endif
