/*
 * ata.h - the ATA devices vireo-vmm puts on an AHCI port: a disk (ide-hd,
 * the ATA command set) and a CD-ROM drive (ide-cd, ATAPI: its packets are
 * SCSI MMC commands, answered by the same logical-unit code scsi-cd uses,
 * scsi.h). The transport (ahci.c) hands over a command as the registers of a
 * Host-to-Device Register FIS, the ATAPI packet and the data buffers its
 * PRDT describes; ata_execute runs it and says what the device's registers
 * hold afterwards (status, error, the D2H FIS fields) and how many bytes
 * moved.
 *
 * Commands (ATA8-ACS), each refused with ABRT when it does not apply to the
 * drive: IDENTIFY DEVICE, IDENTIFY PACKET DEVICE, READ/WRITE DMA (EXT),
 * READ/WRITE SECTORS (EXT) and READ/WRITE MULTIPLE (EXT) (PIO: in AHCI they
 * move through the PRDT as DMA does), READ/WRITE FPDMA QUEUED (NCQ), READ
 * VERIFY SECTORS (EXT), FLUSH CACHE (EXT), SET FEATURES (write cache on and
 * off, transfer mode, look-ahead), SET MULTIPLE MODE, CHECK POWER MODE, IDLE
 * and STANDBY (IMMEDIATE), INITIALIZE DEVICE PARAMETERS, NOP (aborts, as the
 * standard says), DEVICE RESET and PACKET for ATAPI. Anything else: ABRT.
 *
 * Everything in the FIS and the packet is untrusted: LBA ranges are checked
 * against the medium, transfer lengths against the buffers the PRDT gave.
 */
#ifndef VIREO_VMM_DEV_ATA_H
#define VIREO_VMM_DEV_ATA_H

#include "vmm/dev/scsi.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

struct blockdev;

/* Status register bits. */
#define ATA_BSY  0x80
#define ATA_DRDY 0x40
#define ATA_DF   0x20
#define ATA_DSC  0x10
#define ATA_DRQ  0x08
#define ATA_ERR  0x01
/* Error register bits. */
#define ATA_ABRT 0x04
#define ATA_IDNF 0x10
#define ATA_UNC  0x40

/* Commands. */
#define ATA_NOP                0x00
#define ATA_DATA_SET_MGMT      0x06
#define ATA_DEVICE_RESET       0x08
#define ATA_READ_SECTORS       0x20
#define ATA_READ_SECTORS_EXT   0x24
#define ATA_READ_DMA_EXT       0x25
#define ATA_READ_MULTIPLE_EXT  0x29
#define ATA_WRITE_SECTORS      0x30
#define ATA_WRITE_SECTORS_EXT  0x34
#define ATA_WRITE_DMA_EXT      0x35
#define ATA_WRITE_MULTIPLE_EXT 0x39
#define ATA_READ_VERIFY        0x40
#define ATA_READ_VERIFY_EXT    0x42
#define ATA_READ_FPDMA_QUEUED  0x60
#define ATA_WRITE_FPDMA_QUEUED 0x61
#define ATA_INIT_DEV_PARAMS    0x91
#define ATA_PACKET             0xa0
#define ATA_IDENTIFY_PACKET    0xa1
#define ATA_READ_MULTIPLE      0xc4
#define ATA_WRITE_MULTIPLE     0xc5
#define ATA_SET_MULTIPLE       0xc6
#define ATA_READ_DMA           0xc8
#define ATA_WRITE_DMA          0xca
#define ATA_STANDBY_IMMEDIATE  0xe0
#define ATA_IDLE_IMMEDIATE     0xe1
#define ATA_STANDBY            0xe2
#define ATA_IDLE               0xe3
#define ATA_CHECK_POWER_MODE   0xe5
#define ATA_FLUSH_CACHE        0xe7
#define ATA_IDENTIFY           0xec
#define ATA_FLUSH_CACHE_EXT    0xea
#define ATA_SET_FEATURES       0xef

/* Device signatures (PxSIG: count, LBA low, mid, high). */
#define ATA_SIG_DISK  0x00000101u
#define ATA_SIG_ATAPI 0xeb140101u

#define ATA_SERIAL_LEN 20
#define ATA_MODEL_LEN  40
#define ATA_FW_LEN     8

/* What ide-hd and ide-cd are configured with. */
struct ata_drive_config {
    bool cd;
    const char *serial; /* NULL: QEMU's "QM000NN" from index */
    const char *model;  /* NULL: "QEMU HARDDISK" / "QEMU DVD-ROM" */
    const char *ver;    /* NULL: QEMU's "2.5+" */
    uint64_t wwn;       /* 0: none */
    uint16_t rotation_rate;
    unsigned index;   /* QEMU's drive index, for the default serial */
    bool write_cache; /* the cache mode writes back: write cache enabled at power-on */
    bool ncq;         /* the transport queues commands (AHCI): advertise NCQ */
};

/* One drive. For a CD, lun is the MMC unit its packets go to. */
struct ata_drive {
    struct ata_drive_config cfg;
    struct blockdev *bdev;
    char serial[ATA_SERIAL_LEN + 1], model[ATA_MODEL_LEN + 1], ver[ATA_FW_LEN + 1];
    struct scsi_lun lun; /* ATAPI only */
    pthread_mutex_t lock;
    bool wce;                /* write cache enabled (SET FEATURES 02h/82h) */
    uint8_t multiple;        /* SET MULTIPLE MODE's sectors per block */
    struct scsi_sense sense; /* ATAPI: the last CHECK CONDITION's, for REQUEST SENSE */
    struct ratelimit rl;
};

void ata_drive_init(struct ata_drive *d, const struct ata_drive_config *cfg, struct blockdev *bdev,
                    const char *drive_id);
void ata_drive_destroy(struct ata_drive *d);
/* Power-on or hardware reset (COMRESET, system reset). */
void ata_drive_reset(struct ata_drive *d);
uint32_t ata_drive_signature(const struct ata_drive *d);

/* One command. The transport fills fis (the H2D Register FIS, 20 bytes), packet (ATAPI's
 * command packet, 16 bytes) and the data buffers (iov, total bytes; for a write the device
 * reads them, for a read it writes them); the device fills the rest. */
struct ata_cmd {
    const uint8_t *fis;
    const uint8_t *packet;
    const struct iovec *iov;
    int iovcnt;
    uint64_t total;
    /* Out. */
    uint8_t status, error;
    uint16_t count;       /* the count field of the D2H FIS (ATAPI: interrupt reason) */
    uint32_t lba;         /* its LBA low, mid and high (an ATAPI signature) */
    uint64_t transferred; /* bytes moved (PRDBC) */
    bool pio_in;          /* a PIO data-in command: the transport posts a PIO Setup FIS */
    bool ncq;             /* a queued command: completion is a Set Device Bits FIS */
    unsigned tag;         /* its tag (NCQ) */
};

/* What a H2D FIS asks before it runs: NCQ's tag (false: not an NCQ command). */
bool ata_fis_ncq(const uint8_t *fis, unsigned *tag);
/* Runs cmd (blocking: block I/O on the calling thread). */
void ata_execute(struct ata_drive *d, struct ata_cmd *cmd);

/* Strings in ATA's IDENTIFY layout: padded with spaces, bytes of each word swapped. */
void ata_put_string(uint16_t *words, const char *s, unsigned len);

#endif
