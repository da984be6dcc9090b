/*
 * engine/seal.c: per-segment AEAD with an object's data key.
 *
 * The nonce is the segment number (little-endian, zero padded): a DEK is
 * random per object version and each segment is sealed once, so nonces
 * never repeat under one key. The associated data binds object id, segment
 * and the final flag: a segment moved to another object or position, or a
 * truncated or extended object, fails to open. libsodium's detached calls
 * write the tag straight after the ciphertext, so sealing in place costs
 * no copy.
 */
#include "engine/seal.h"

#include <string.h>

#include <sodium.h>

#define AD_LEN    (SV_OID_LEN + 8 + 1)
#define NONCE_MAX crypto_aead_xchacha20poly1305_ietf_NPUBBYTES

const char *sv_cipher_name(enum sv_cipher c)
{
    switch (c) {
    case SV_CIPHER_XCHACHA20:
        return "xchacha20poly1305";
    case SV_CIPHER_AES256GCM:
        return "aes256gcm";
    }
    return "unknown";
}

enum sv_err sv_cipher_parse(const char *name, enum sv_cipher *out)
{
    if (!name || !out)
        return sv_err_set(SV_INVAL, "cipher: no name");
    if (!strcmp(name, "xchacha20poly1305") ||
        !strcmp(name, "xchacha20-poly1305"))
        *out = SV_CIPHER_XCHACHA20;
    else if (!strcmp(name, "aes256gcm") || !strcmp(name, "aes-256-gcm"))
        *out = SV_CIPHER_AES256GCM;
    else
        return sv_err_set(SV_INVAL,
                          "unknown cipher '%s' (xchacha20poly1305 or "
                          "aes256gcm)",
                          name);
    return SV_OK;
}

enum sv_err sv_cipher_available(enum sv_cipher c)
{
    if (sodium_init() < 0)
        return sv_err_set(SV_UNSUPP, "libsodium could not be initialised");
    switch (c) {
    case SV_CIPHER_XCHACHA20:
        return SV_OK;
    case SV_CIPHER_AES256GCM:
        if (crypto_aead_aes256gcm_is_available())
            return SV_OK;
        return sv_err_set(SV_UNSUPP, "AES-256-GCM needs a CPU with AES-NI "
                                     "and PCLMUL; this one has none (objects "
                                     "sealed with it cannot be read here)");
    }
    return sv_err_set(SV_UNSUPP, "unknown cipher number %d", (int)c);
}

static void nonce_ad(const uint8_t oid[SV_OID_LEN], uint64_t segment, int final,
                     uint8_t nonce[NONCE_MAX], uint8_t ad[AD_LEN])
{
    int i;

    memset(nonce, 0, NONCE_MAX);
    memcpy(ad, oid, SV_OID_LEN);
    for (i = 0; i < 8; i++) {
        nonce[i] = (uint8_t)(segment >> (8 * i));
        ad[SV_OID_LEN + i] = nonce[i];
    }
    ad[SV_OID_LEN + 8] = final ? 1 : 0;
}

static enum sv_err check_args(enum sv_cipher c, const uint8_t *dek,
                              const uint8_t *oid, const uint8_t *in,
                              const uint8_t *out, size_t len)
{
    enum sv_err rc;

    if (!dek || !oid || !out || (!in && len))
        return sv_err_set(SV_INVAL, "seal: missing argument");
    rc = sv_cipher_available(c);
    if (rc)
        return rc;
    /* Both ciphers take far more than any segment (AES-GCM: 64 GiB). */
    if (len > ((uint64_t)1 << 35))
        return sv_err_set(SV_INVAL, "seal: a %zu byte segment is too long",
                          len);
    return SV_OK;
}

enum sv_err sv_seal_segment_detached(enum sv_cipher c,
                                     const uint8_t dek[SV_DEK_LEN],
                                     const uint8_t oid[SV_OID_LEN],
                                     uint64_t segment, int final,
                                     const uint8_t *in, size_t len,
                                     uint8_t *out, uint8_t tag[SV_SEAL_TAG])
{
    uint8_t nonce[NONCE_MAX], ad[AD_LEN];
    enum sv_err rc;

    rc = check_args(c, dek, oid, in, out, len);
    if (rc)
        return rc;
    if (!tag)
        return sv_err_set(SV_INVAL, "seal: no tag buffer");
    nonce_ad(oid, segment, final, nonce, ad);
    if (c == SV_CIPHER_AES256GCM)
        crypto_aead_aes256gcm_encrypt_detached(out, tag, NULL, in, len, ad,
                                               AD_LEN, NULL, nonce, dek);
    else
        crypto_aead_xchacha20poly1305_ietf_encrypt_detached(
            out, tag, NULL, in, len, ad, AD_LEN, NULL, nonce, dek);
    return SV_OK;
}

enum sv_err
sv_open_segment_detached(enum sv_cipher c, const uint8_t dek[SV_DEK_LEN],
                         const uint8_t oid[SV_OID_LEN], uint64_t segment,
                         int final, const uint8_t *in, size_t len,
                         const uint8_t tag[SV_SEAL_TAG], uint8_t *out)
{
    uint8_t nonce[NONCE_MAX], ad[AD_LEN];
    enum sv_err rc;
    int r;

    rc = check_args(c, dek, oid, in, out, len);
    if (rc)
        return rc;
    if (!tag)
        return sv_err_set(SV_INVAL, "open: no tag");
    nonce_ad(oid, segment, final, nonce, ad);
    if (c == SV_CIPHER_AES256GCM)
        r = crypto_aead_aes256gcm_decrypt_detached(out, NULL, in, len, tag, ad,
                                                   AD_LEN, nonce, dek);
    else
        r = crypto_aead_xchacha20poly1305_ietf_decrypt_detached(
            out, NULL, in, len, tag, ad, AD_LEN, nonce, dek);
    if (r != 0)
        return sv_err_set(SV_AUTH,
                          "segment %llu%s does not open: wrong key, or the "
                          "segment was tampered with, moved or truncated",
                          (unsigned long long)segment, final ? " (final)" : "");
    return SV_OK;
}

enum sv_err sv_seal_segment(enum sv_cipher c, const uint8_t dek[SV_DEK_LEN],
                            const uint8_t oid[SV_OID_LEN], uint64_t segment,
                            int final, const uint8_t *in, size_t len,
                            uint8_t *out)
{
    if (!out)
        return sv_err_set(SV_INVAL, "seal: no output buffer");
    return sv_seal_segment_detached(c, dek, oid, segment, final, in, len, out,
                                    out + len);
}

enum sv_err sv_open_segment(enum sv_cipher c, const uint8_t dek[SV_DEK_LEN],
                            const uint8_t oid[SV_OID_LEN], uint64_t segment,
                            int final, const uint8_t *in, size_t clen,
                            uint8_t *out)
{
    if (!in || !out)
        return sv_err_set(SV_INVAL, "open: missing argument");
    if (clen < SV_SEAL_TAG)
        return sv_err_set(SV_CORRUPT,
                          "segment %llu: %zu bytes is shorter than its "
                          "%d byte tag",
                          (unsigned long long)segment, clen, SV_SEAL_TAG);
    return sv_open_segment_detached(c, dek, oid, segment, final, in,
                                    clen - SV_SEAL_TAG, in + clen - SV_SEAL_TAG,
                                    out);
}
