/*
 * engine/seal.h: per-segment AEAD with an object's data key.
 *
 * Each object version has a random DEK. Segment s is sealed with nonce =
 * s (little-endian, zero padded) and associated data = object id | s |
 * final flag, so a reordered, truncated, extended or cross-object segment
 * fails to open with SV_AUTH. Ciphertext = plaintext length + SV_SEAL_TAG
 * (the tag is appended, so the EC layer sees one contiguous buffer).
 */
#ifndef SV_SEAL_H
#define SV_SEAL_H

#include <stddef.h>
#include <stdint.h>

#include "engine/error.h"
#include "engine/keys.h"

#define SV_SEAL_TAG 16

enum sv_cipher {
    SV_CIPHER_XCHACHA20 = 1, /* XChaCha20-Poly1305-IETF (default) */
    SV_CIPHER_AES256GCM = 2, /* AES-256-GCM, CPUs with AES-NI only */
};

/* "xchacha20poly1305" / "aes256gcm"; parse returns SV_INVAL if unknown. */
const char *sv_cipher_name(enum sv_cipher c);
enum sv_err sv_cipher_parse(const char *name, enum sv_cipher *out) SV_MUST_CHECK;

/* SV_OK if this machine can use c; SV_UNSUPP with a sentence otherwise
 * ("AES-256-GCM needs a CPU with AES-NI; this one has none"). */
enum sv_err sv_cipher_available(enum sv_cipher c) SV_MUST_CHECK;

/*
 * Seal len bytes of in into out (len + SV_SEAL_TAG bytes). in == out is
 * allowed (in place). final marks the object's last segment.
 * SV_UNSUPP (cipher not available), SV_INVAL.
 */
enum sv_err sv_seal_segment(enum sv_cipher c, const uint8_t dek[SV_DEK_LEN],
                            const uint8_t oid[SV_OID_LEN], uint64_t segment,
                            int final, const uint8_t *in, size_t len,
                            uint8_t *out) SV_MUST_CHECK;

/*
 * Open clen bytes (ciphertext + tag) into out (clen - SV_SEAL_TAG bytes);
 * in == out allowed. SV_AUTH on any tampering or wrong key, SV_CORRUPT if
 * clen < SV_SEAL_TAG.
 */
enum sv_err sv_open_segment(enum sv_cipher c, const uint8_t dek[SV_DEK_LEN],
                            const uint8_t oid[SV_OID_LEN], uint64_t segment,
                            int final, const uint8_t *in, size_t clen,
                            uint8_t *out) SV_MUST_CHECK;

/*
 * The same with the tag apart (tag: SV_SEAL_TAG bytes), for callers that
 * keep it elsewhere; len is the plaintext / ciphertext length without the
 * tag. in == out allowed. Errors as above.
 */
enum sv_err sv_seal_segment_detached(enum sv_cipher c,
                                     const uint8_t dek[SV_DEK_LEN],
                                     const uint8_t oid[SV_OID_LEN],
                                     uint64_t segment, int final,
                                     const uint8_t *in, size_t len,
                                     uint8_t *out,
                                     uint8_t tag[SV_SEAL_TAG]) SV_MUST_CHECK;
enum sv_err sv_open_segment_detached(enum sv_cipher c,
                                     const uint8_t dek[SV_DEK_LEN],
                                     const uint8_t oid[SV_OID_LEN],
                                     uint64_t segment, int final,
                                     const uint8_t *in, size_t len,
                                     const uint8_t tag[SV_SEAL_TAG],
                                     uint8_t *out) SV_MUST_CHECK;

#endif
