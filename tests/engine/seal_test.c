/*
 * tests/engine/seal_test.c: per-segment AEAD (engine/seal.c).
 */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "engine/seal.h"
#include "tests/lib/testutil.h"

static const enum sv_cipher ciphers[] = {SV_CIPHER_XCHACHA20,
                                         SV_CIPHER_AES256GCM};
#define NCIPHERS (sizeof(ciphers) / sizeof(ciphers[0]))

static uint8_t dek[SV_DEK_LEN], oid[SV_OID_LEN];

static void setup(void)
{
    cr_assert(sodium_init() >= 0);
    tu_fill(dek, sizeof(dek), 1);
    tu_fill(oid, sizeof(oid), 2);
}

TestSuite(seal, .init = setup);

/* This machine's AES: every test runs AES where the CPU has it and checks
 * the refusal where it does not. */
static int usable(enum sv_cipher c)
{
    if (c == SV_CIPHER_AES256GCM && !crypto_aead_aes256gcm_is_available()) {
        cr_assert_eq(sv_cipher_available(c), SV_UNSUPP);
        return 0;
    }
    cr_assert_eq(sv_cipher_available(c), SV_OK);
    return 1;
}

Test(seal, round_trip_every_cipher_and_length)
{
    static const size_t lens[] = {0, 1, 15, 16, 17, 4097, 1 << 20};
    size_t i, j;

    for (i = 0; i < NCIPHERS; i++) {
        if (!usable(ciphers[i]))
            continue;
        for (j = 0; j < sizeof(lens) / sizeof(lens[0]); j++) {
            size_t len = lens[j];
            uint8_t *pt = tu_bytes(len, j), *ct = malloc(len + SV_SEAL_TAG);
            uint8_t *back = malloc(len + 1);

            cr_assert_eq(sv_seal_segment(ciphers[i], dek, oid, j, j == 6, pt,
                                         len, ct),
                         SV_OK);
            if (len >= 16)
                cr_assert(memcmp(ct, pt, len), "ciphertext equals plaintext");
            cr_assert_eq(sv_open_segment(ciphers[i], dek, oid, j, j == 6, ct,
                                         len + SV_SEAL_TAG, back),
                         SV_OK);
            cr_assert_arr_eq(back, pt, len);
            free(pt);
            free(ct);
            free(back);
        }
    }
}

Test(seal, in_place_and_detached)
{
    size_t i, len = 100000;

    for (i = 0; i < NCIPHERS; i++) {
        uint8_t *pt = tu_bytes(len, 3), *buf = malloc(len + SV_SEAL_TAG);
        uint8_t *ref = malloc(len + SV_SEAL_TAG), tag[SV_SEAL_TAG];

        if (!usable(ciphers[i])) {
            free(pt);
            free(buf);
            free(ref);
            continue;
        }
        cr_assert_eq(sv_seal_segment(ciphers[i], dek, oid, 5, 0, pt, len, ref),
                     SV_OK);
        memcpy(buf, pt, len);
        cr_assert_eq(sv_seal_segment(ciphers[i], dek, oid, 5, 0, buf, len,
                                     buf),
                     SV_OK);
        cr_assert_arr_eq(buf, ref, len + SV_SEAL_TAG);
        cr_assert_eq(sv_open_segment(ciphers[i], dek, oid, 5, 0, buf,
                                     len + SV_SEAL_TAG, buf),
                     SV_OK);
        cr_assert_arr_eq(buf, pt, len);
        /* detached: same ciphertext, the tag apart */
        memcpy(buf, pt, len);
        cr_assert_eq(sv_seal_segment_detached(ciphers[i], dek, oid, 5, 0, buf,
                                              len, buf, tag),
                     SV_OK);
        cr_assert_arr_eq(buf, ref, len);
        cr_assert_arr_eq(tag, ref + len, SV_SEAL_TAG);
        cr_assert_eq(sv_open_segment_detached(ciphers[i], dek, oid, 5, 0, buf,
                                              len, tag, buf),
                     SV_OK);
        cr_assert_arr_eq(buf, pt, len);
        tag[3] ^= 1;
        cr_assert_eq(sv_open_segment_detached(ciphers[i], dek, oid, 5, 0, ref,
                                              len, tag, buf),
                     SV_AUTH);
        cr_assert_eq(sv_seal_segment_detached(ciphers[i], dek, oid, 5, 0, buf,
                                              len, buf, NULL),
                     SV_INVAL);
        free(pt);
        free(buf);
        free(ref);
    }
}

/* The documented format: nonce = segment (LE, zero padded), AD = oid |
 * segment (LE64) | final byte; the tag follows the ciphertext. */
Test(seal, matches_the_documented_format)
{
    uint8_t pt[64], ours[64 + 16], ref[64 + 16], nonce[24] = {0}, ad[25];
    uint64_t seg = 0x0102030405060708ull;
    unsigned long long clen;
    int i;

    tu_fill(pt, sizeof(pt), 4);
    for (i = 0; i < 8; i++)
        nonce[i] = (uint8_t)(seg >> (8 * i));
    memcpy(ad, oid, 16);
    memcpy(ad + 16, nonce, 8);
    ad[24] = 1;
    cr_assert_eq(sv_seal_segment(SV_CIPHER_XCHACHA20, dek, oid, seg, 1, pt,
                                 sizeof(pt), ours),
                 SV_OK);
    crypto_aead_xchacha20poly1305_ietf_encrypt(ref, &clen, pt, sizeof(pt), ad,
                                               sizeof(ad), NULL, nonce, dek);
    cr_assert_eq(clen, sizeof(ref));
    cr_assert_arr_eq(ours, ref, sizeof(ref));
    if (crypto_aead_aes256gcm_is_available()) {
        cr_assert_eq(sv_seal_segment(SV_CIPHER_AES256GCM, dek, oid, seg, 1,
                                     pt, sizeof(pt), ours),
                     SV_OK);
        crypto_aead_aes256gcm_encrypt(ref, &clen, pt, sizeof(pt), ad,
                                      sizeof(ad), NULL, nonce, dek);
        cr_assert_arr_eq(ours, ref, sizeof(ref));
    }
}

Test(seal, every_bit_flip_fails)
{
    uint8_t pt[48], ct[48 + SV_SEAL_TAG], out[48];
    size_t i, bit;

    tu_fill(pt, sizeof(pt), 5);
    for (i = 0; i < NCIPHERS; i++) {
        if (!usable(ciphers[i]))
            continue;
        cr_assert_eq(sv_seal_segment(ciphers[i], dek, oid, 9, 1, pt,
                                     sizeof(pt), ct),
                     SV_OK);
        for (bit = 0; bit < 8 * sizeof(ct); bit++) {
            ct[bit / 8] ^= (uint8_t)(1u << (bit % 8));
            cr_assert_eq(sv_open_segment(ciphers[i], dek, oid, 9, 1, ct,
                                         sizeof(ct), out),
                         SV_AUTH, "cipher %zu bit %zu", i, bit);
            ct[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        }
        cr_assert_eq(sv_open_segment(ciphers[i], dek, oid, 9, 1, ct,
                                     sizeof(ct), out),
                     SV_OK);
    }
}

Test(seal, moved_truncated_extended_or_wrong_key_fails)
{
    uint8_t pt[100], ct[100 + SV_SEAL_TAG + 1], out[101], oid2[SV_OID_LEN];
    uint8_t dek2[SV_DEK_LEN];
    size_t i, clen = 100 + SV_SEAL_TAG;

    tu_fill(pt, sizeof(pt), 6);
    memcpy(oid2, oid, sizeof(oid2));
    oid2[15] ^= 1;
    memcpy(dek2, dek, sizeof(dek2));
    dek2[0] ^= 0x80;
    for (i = 0; i < NCIPHERS; i++) {
        enum sv_cipher c = ciphers[i];

        if (!usable(c))
            continue;
        cr_assert_eq(sv_seal_segment(c, dek, oid, 3, 0, pt, sizeof(pt), ct),
                     SV_OK);
        /* reordered: read as another segment */
        cr_assert_eq(sv_open_segment(c, dek, oid, 4, 0, ct, clen, out),
                     SV_AUTH);
        /* a non-final segment presented as the last (object truncated) */
        cr_assert_eq(sv_open_segment(c, dek, oid, 3, 1, ct, clen, out),
                     SV_AUTH);
        /* another object's segment */
        cr_assert_eq(sv_open_segment(c, dek, oid2, 3, 0, ct, clen, out),
                     SV_AUTH);
        cr_assert_eq(sv_open_segment(c, dek2, oid, 3, 0, ct, clen, out),
                     SV_AUTH);
        /* bytes cut or added */
        cr_assert_eq(sv_open_segment(c, dek, oid, 3, 0, ct, clen - 1, out),
                     SV_AUTH);
        ct[clen] = 0;
        cr_assert_eq(sv_open_segment(c, dek, oid, 3, 0, ct, clen + 1, out),
                     SV_AUTH);
        cr_assert_eq(sv_open_segment(c, dek, oid, 3, 0, ct, SV_SEAL_TAG - 1,
                                     out),
                     SV_CORRUPT);
        cr_assert_eq(sv_open_segment(c, dek, oid, 3, 0, ct, clen, out),
                     SV_OK);
    }
    /* sealed with one cipher, opened with the other */
    if (crypto_aead_aes256gcm_is_available()) {
        cr_assert_eq(sv_seal_segment(SV_CIPHER_XCHACHA20, dek, oid, 3, 0, pt,
                                     sizeof(pt), ct),
                     SV_OK);
        cr_assert_eq(sv_open_segment(SV_CIPHER_AES256GCM, dek, oid, 3, 0, ct,
                                     clen, out),
                     SV_AUTH);
    }
}

Test(seal, cipher_names_and_bad_arguments)
{
    enum sv_cipher c = 0;
    uint8_t buf[32];

    cr_assert_str_eq(sv_cipher_name(SV_CIPHER_XCHACHA20), "xchacha20poly1305");
    cr_assert_str_eq(sv_cipher_name(SV_CIPHER_AES256GCM), "aes256gcm");
    cr_assert_str_eq(sv_cipher_name((enum sv_cipher)9), "unknown");
    cr_assert_eq(sv_cipher_parse("aes256gcm", &c), SV_OK);
    cr_assert_eq(c, SV_CIPHER_AES256GCM);
    cr_assert_eq(sv_cipher_parse("xchacha20poly1305", &c), SV_OK);
    cr_assert_eq(c, SV_CIPHER_XCHACHA20);
    cr_assert_eq(sv_cipher_parse("rot13", &c), SV_INVAL);
    cr_assert_eq(sv_cipher_parse(NULL, &c), SV_INVAL);
    cr_assert_eq(sv_cipher_available((enum sv_cipher)9), SV_UNSUPP);
    cr_assert_eq(sv_seal_segment((enum sv_cipher)9, dek, oid, 0, 0, buf, 8,
                                 buf),
                 SV_UNSUPP);
    cr_assert_eq(sv_seal_segment(SV_CIPHER_XCHACHA20, NULL, oid, 0, 0, buf, 8,
                                 buf),
                 SV_INVAL);
    cr_assert_eq(sv_seal_segment(SV_CIPHER_XCHACHA20, dek, oid, 0, 0, NULL, 8,
                                 buf),
                 SV_INVAL);
    cr_assert_eq(sv_seal_segment(SV_CIPHER_XCHACHA20, dek, oid, 0, 0, buf, 8,
                                 NULL),
                 SV_INVAL);
    cr_assert_eq(sv_open_segment(SV_CIPHER_XCHACHA20, dek, NULL, 0, 0, buf,
                                 16, buf),
                 SV_INVAL);
    cr_assert_eq(sv_open_segment(SV_CIPHER_XCHACHA20, dek, oid, 0, 0, NULL,
                                 16, buf),
                 SV_INVAL);
    cr_assert_eq(sv_open_segment_detached(SV_CIPHER_XCHACHA20, dek, oid, 0, 0,
                                          buf, 8, NULL, buf),
                 SV_INVAL);
}
