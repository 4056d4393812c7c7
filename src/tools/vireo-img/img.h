/*
 * img.h - shared pieces of vireo-img, qemu-img's counterpart.
 *
 * Each subcommand lives in its own file (cmd-*.c) and is a function taking
 * argc/argv after the subcommand name, returning the process exit status.
 * This header holds what several of them share: error printing in qemu-img's
 * one-line form, opening images with the right options, size parsing, the -o
 * option list, a tiny JSON writer that prints the way qemu-img does, and the
 * progress meter. Nothing here knows an image format: that is src/block/.
 */
#ifndef VIREO_TOOLS_IMG_H
#define VIREO_TOOLS_IMG_H

#include "block/block.h"
#include "block/nbd-tls.h"
#include "block/secret.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define IMG_PROG "vireo-img"

/* Prints "vireo-img: MESSAGE" on stderr. */
void img_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints an error and the "Try 'vireo-img --help'" hint (usage errors). */
void img_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* What one command invocation shares across the images it opens (see
 * image-opts.c): the secrets of --object, whether names are --image-opts
 * option strings, and -U. main() owns it. */
#define IMG_SPEC_DEPTH 8
struct img_session {
    struct secret_store secrets;
    bool image_opts;        /* --image-opts */
    bool target_image_opts; /* convert --target-image-opts */
    bool force_share;       /* -U / --force-share */
    /* The keys the first image opened was given for itself and each image
     * down its chain ([n]: the n-th below), for opening one of those again
     * (commit's writable base). */
    struct block_keys chain[IMG_SPEC_DEPTH];
    char *chain_secret[IMG_SPEC_DEPTH], *chain_format[IMG_SPEC_DEPTH];
    bool chain_set;
    struct nbd_tls_x509 *tls; /* --object tls-creds-x509,... */
    size_t ntls;
};
/* --object ARG: 0, 1 after printing help (the command is done), -1 after an
 * error. */
int img_session_object(struct img_session *s, const char *arg);
void img_session_free(struct img_session *s);

/* The keys for the image `depth` levels below the first one opened (0: that
 * image), as its options gave them (secrets only when none were). */
const struct block_keys *img_session_keys(struct img_session *s, int depth);

/* An --image-opts option string, decoded: [0] is the image, [n] what its
 * backing.(n times) options say about the n-th image below it. */
struct img_spec_layer {
    char *format; /* driver= ("file" opens the file as raw) */
    bool protocol_only;
    char *filename; /* file.filename= */
    char *key_secret;
    const char *key_option; /* "key-secret" or "encrypt.key-secret", as given */
    char *encrypt_format;
    enum block_locking locking;
    bool read_only, force_share;
    bool has_cache, cache_direct, cache_no_flush;
    /* driver=nbd (or file.driver=nbd): the export, QEMU's nbd options */
    bool nbd;
    char *server_type, *server_host, *server_port, *server_path, *export_name;
    char *tls_creds, *tls_hostname;
};
struct img_spec {
    struct img_spec_layer layers[IMG_SPEC_DEPTH];
    int depth; /* deepest layer named */
};
int img_spec_parse(struct img_spec *sp, const char *str);
void img_spec_free(struct img_spec *sp);
/* qemu-img's name for an option string: json:{"driver": ..., "file": ...}. */
char *img_spec_json_name(const char *str);

/* Opens an image named `name` (an option string when image_opts) with
 * base's options and the session's secrets and -U; on failure prints
 * "vireo-img: Could not open 'NAME': WHY" and returns NULL. */
struct block_dev *img_open_spec(struct img_session *s, const char *name, bool image_opts,
                                const struct block_open_opts *base);
/* The common cases: a command's image argument (an option string under
 * --image-opts). */
struct block_dev *img_open(struct img_session *s, const char *path, const char *format,
                           bool read_only, bool no_backing, const char *cache);
struct block_dev *img_open_opts(struct img_session *s, const char *path,
                                const struct block_open_opts *opts);
/* A plain file name even under --image-opts (a backing file given with -b,
 * a file found through the chain). */
struct block_dev *img_open_plain(struct img_session *s, const char *path,
                                 const struct block_open_opts *opts);
/* "vireo-img: Could not open 'NAME': WHY", without repeating the path the
 * library's message starts with. */
void img_print_open_error(const char *name, const char *msg);

/* A library message without its leading "could not open/create 'PATH': "
 * (qemu-img names the file once, its own way). */
const char *img_reason(const char *msg, const char *path);

/* Parses a size argument the way qemu-img does (suffixes k M G T P E, bytes
 * without one). Prints qemu-img's message and returns -1 on bad input. */
int img_parse_size(const char *s, uint64_t *out);

/* --output=human|json. Returns 0 (human), 1 (json) or -1 (error printed). */
int img_parse_output(const char *s);

/* Options given with -o, accumulated: "a=b,c=d" with ",," for a literal comma. */
struct img_kv {
    char *key;
    char *value;
};
struct img_optlist {
    struct img_kv *items;
    size_t count;
    bool help; /* -o help or -o ? */
};
/* Appends the options of one -o argument. Returns 0 or -1 (error printed). */
int img_optlist_add(struct img_optlist *list, const char *arg);
const char *img_optlist_get(const struct img_optlist *list, const char *key);
void img_optlist_free(struct img_optlist *list);

/* Turns -o options for FORMAT into block_create_opts (strings point into
 * the list). Unknown keys are an error naming the file. Returns 0 or -1. */
int img_create_opts_from_list(const char *format, const char *filename,
                              const struct img_optlist *list, struct block_create_opts *opts);
/* Prints the options FORMAT accepts (-o help). */
void img_print_create_help(const char *format);

/* The -o options of vmdk, vdi, vpc, vhdx and qed (fmt-opts.c). */
bool img_foreign_format(const char *format);
/* qcow2, qed and vmdk can have a backing file. */
bool img_format_has_backing(const char *format);
int img_foreign_create_opts(const char *format, const char *filename,
                            const struct img_optlist *list, struct block_create_opts *opts);
void img_foreign_print_help(const char *format);
void img_foreign_print_formatting(const char *path, const char *format,
                                  const struct block_create_opts *o,
                                  const struct img_optlist *list);

/* A JSON writer that prints like QEMU's pretty printer: 4-space indents,
 * "key": value, ", " separators on their own lines. */
struct img_json {
    FILE *out;
    int depth;
    bool first; /* no element written yet at this depth */
};
void img_json_init(struct img_json *j, FILE *out);
void img_json_begin_object(struct img_json *j, const char *key);
void img_json_end_object(struct img_json *j);
void img_json_begin_array(struct img_json *j, const char *key);
void img_json_end_array(struct img_json *j);
void img_json_str(struct img_json *j, const char *key, const char *value);
void img_json_u64(struct img_json *j, const char *key, uint64_t value);
void img_json_i64(struct img_json *j, const char *key, int64_t value);
void img_json_bool(struct img_json *j, const char *key, bool value);
/* Writes s as a JSON string literal (quotes and escapes). */
void img_json_write_string(FILE *out, const char *s);

/* Progress meter for -p: "    (12.34/100%)\r" on stdout, like qemu-img. */
struct img_progress {
    bool enabled;
    double last;
};
void img_progress_init(struct img_progress *p, bool enabled);
void img_progress_update(struct img_progress *p, double percent);
void img_progress_end(struct img_progress *p);

/* getopt with qemu-img's messages: call before the loop; argv[0] is replaced
 * by the program name so getopt's own complaints read "vireo-img: ...". */
void img_getopt_prepare(char **argv);
/* After getopt returned '?' or ':': prints the hint line. Returns 1. */
int img_bad_option(void);
/* True when FORMAT is one qemu-img knows (opening one Vireo has no driver
 * for then says so by name). */
bool img_format_known(const char *format);
/* -f/-F: true when FORMAT is NULL (probe) or known; else says "Unknown file
 * format" and returns false. */
bool img_check_format(const char *format);
/* The format of an image to create (-f of create, -O of convert/measure) and
 * its -o help: -1 after "Unknown file format", 1 after printing the help (the
 * command is done), 0 to go on. */
int img_create_format(const char *format, bool help);
/* The path a backing file name refers to: relative names are relative to
 * the image's directory. Caller frees. */
char *img_backing_path(const char *image, const char *backing);

/* Human size "196 KiB". */
void img_format_size(uint64_t bytes, char *dst, size_t size);

/* Prints the snapshot table the way qemu-img snapshot -l and info do. */
void img_print_snapshot_table(FILE *out, const struct block_snapshot *list, size_t count);

/* info's encryption details (info-crypt.c), indented by `indent` spaces;
 * with_format adds qcow2's "format: luks" line. */
void img_info_crypt_human(const struct block_crypt_info *ci, int indent, bool with_format);
void img_info_crypt_json(struct img_json *j, const struct block_crypt_info *ci, bool with_format);

/* Subcommands. */
/* The formats vireo-img reads and writes, as --help lists them (qcow version 1 is read
 * only and not listed). */
#define IMG_FORMATS "raw qcow2 vmdk vdi vpc vhdx qed luks"

/* A subcommand: its name, its body, its synopsis for --help (the table is
 * in main.c) and which of the session's options it takes. */
#define IMG_CMD_OBJECT            0x1 /* --object */
#define IMG_CMD_IMAGE_OPTS        0x2 /* --image-opts */
#define IMG_CMD_TARGET_IMAGE_OPTS 0x4 /* --target-image-opts */
struct img_command {
    const char *name;
    int (*run)(int argc, char **argv, struct img_session *s);
    const char *synopsis;
    unsigned flags;
};
/* `vireo-img complete -- WORD...`: shell completion candidates (complete.c). */
int img_cmd_complete(const struct img_command *commands, size_t count, int argc, char **argv);

int img_cmd_create(int argc, char **argv, struct img_session *s);
int img_cmd_info(int argc, char **argv, struct img_session *s);
int img_cmd_check(int argc, char **argv, struct img_session *s);
int img_cmd_convert(int argc, char **argv, struct img_session *s);
int img_cmd_resize(int argc, char **argv, struct img_session *s);
int img_cmd_snapshot(int argc, char **argv, struct img_session *s);
int img_cmd_commit(int argc, char **argv, struct img_session *s);
int img_cmd_rebase(int argc, char **argv, struct img_session *s);
int img_cmd_map(int argc, char **argv, struct img_session *s);
int img_cmd_compare(int argc, char **argv, struct img_session *s);
int img_cmd_measure(int argc, char **argv, struct img_session *s);
int img_cmd_dd(int argc, char **argv, struct img_session *s);
int img_cmd_bench(int argc, char **argv, struct img_session *s);
int img_cmd_bitmap(int argc, char **argv, struct img_session *s);
int img_cmd_amend(int argc, char **argv, struct img_session *s);

/* amend's LUKS key slot options (amend-keys.c): state=, keyslot=,
 * new-secret=, old-secret=, iter-time= (under "encrypt." for qcow2). */
struct img_amend_keys {
    struct block_keyslot_change change;
    bool has_state;
    bool given; /* any key slot option */
};
void img_amend_keys_init(struct img_amend_keys *k);
/* 1 when key (value v) is a key slot option and was taken, 0 when it is
 * not one, -1 after printing qemu-img's message for a bad value. */
int img_amend_keys_opt(struct img_amend_keys *k, const char *key, const char *v, bool qcow2);
/* Applies the key slot change if any option was given: 0 or -1 (printed). */
int img_amend_keys_apply(struct img_amend_keys *k, struct block_dev *bd, bool force,
                         const char *path);
/* amend -o help's lines for the key slot options. */
void img_amend_keys_help(bool qcow2);

#endif
