/*
 * block-transaction.h - QMP's transaction (block actions done all or nothing) and
 * blockdev-snapshot-internal-sync; see block-transaction.c.
 */
#ifndef VIREO_VMM_DEV_BLOCK_TRANSACTION_H
#define VIREO_VMM_DEV_BLOCK_TRANSACTION_H

struct qmp_server;
struct vm;

int block_transaction_register(struct qmp_server *server, struct vm *vm);

#endif
