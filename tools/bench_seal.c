/*
 * tools/bench_seal.c: `shardvault bench seal`: sealing and framing one
 * segment (default 8 MiB at k=4, m=2) against the raw libsodium calls on
 * the same buffers in the same run.
 *
 * Ours: sv_seal_segment in place, then for each of the n shards the header
 * and sv_shard_auth over header | chunk (the k data chunks of the sealed
 * segment and m parity buffers of chunk size; the erasure code itself is
 * `bench ec`). Reference: the raw AEAD call plus raw crypto_onetimeauth
 * over the same n chunks. ratio = (raw seal + raw auth) / ours; the target
 * is >= 0.9 (no extra copies, no extra passes). Also printed: keyed BLAKE2b
 * over the same bytes, the authenticator shard.c did not choose.
 * Best of several rounds, ours and the reference interleaved. Parity is
 * computed with sv_ec between the timed parts (untimed: `bench ec`
 * measures it). Every run ends with a self-check: each framed shard passes
 * sv_shard_verify and the sealed segment opens to what was sealed;
 * --selfcheck runs only that, on a small segment, without timing.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "ec/ec.h"
#include "engine/keys.h"
#include "engine/seal.h"
#include "engine/shard.h"
#include "tools/benchutil.h"
#include "tools/tools.h"

#define USAGE                                                                  \
    "bench seal [--size BYTES] [--k K --m M] [--rounds N] "                    \
    "[--cipher NAME] [--selfcheck]"

struct bench {
    enum sv_cipher cipher;
    unsigned k, m, n;
    size_t size, chunk;
    uint8_t *buf; /* k * chunk: the segment, sealed in place, then padding */
    uint8_t *parity;
    uint8_t *chunk_at[255];
    uint8_t hdr[255][SV_SHARD_HDR_LEN], tag[255][SV_SHARD_TAG];
    uint8_t dek[SV_DEK_LEN], oid[SV_OID_LEN];
    struct sv_keyring *kr;
    struct sv_ec *ec;
};

static void fill_info(const struct bench *b, uint64_t seg,
                      struct sv_shard_info *in)
{
    memset(in, 0, sizeof(*in));
    in->k = b->k;
    in->m = b->m;
    in->segment = seg;
    memcpy(in->oid, b->oid, SV_OID_LEN);
    in->chunk_len = (uint32_t)b->chunk;
    in->payload_len = b->size + SV_SEAL_TAG;
}

/* Seal and frame segment seg; the parity in between is not timed. */
static double ours(struct bench *b, uint64_t seg)
{
    struct sv_shard_info in;
    enum sv_err rc;
    double t = bu_now(), t_seal;
    unsigned i;

    rc = sv_seal_segment(b->cipher, b->dek, b->oid, seg, 0, b->buf, b->size,
                         b->buf);
    if (rc)
        die_err(rc, "bench seal: ");
    t_seal = bu_now() - t;
    rc = sv_ec_encode(b->ec, b->chunk, b->chunk_at, b->chunk_at + b->k);
    if (rc)
        die_err(rc, "bench seal: ");
    t = bu_now();
    fill_info(b, seg, &in);
    for (i = 0; i < b->n; i++) {
        in.index = i;
        sv_shard_encode_hdr(&in, b->hdr[i]);
        sv_shard_auth(b->kr, &in, b->hdr[i], NULL, b->chunk_at[i], b->tag[i]);
    }
    return t_seal + (bu_now() - t);
}

/* After ours(b, seg): every shard verifies, and the segment opens. */
static void selfcheck(struct bench *b, uint64_t seg, const uint8_t *plain)
{
    size_t slen = SV_SHARD_HDR_LEN + b->chunk + SV_SHARD_TAG;
    uint8_t *shard = malloc(slen), *back = malloc(b->size + 1);
    struct sv_shard_info in;
    enum sv_err rc;
    unsigned i;

    if (!shard || !back)
        die(1, "bench seal: out of memory");
    for (i = 0; i < b->n; i++) {
        memcpy(shard, b->hdr[i], SV_SHARD_HDR_LEN);
        memcpy(shard + SV_SHARD_HDR_LEN, b->chunk_at[i], b->chunk);
        memcpy(shard + slen - SV_SHARD_TAG, b->tag[i], SV_SHARD_TAG);
        rc = sv_shard_verify(b->kr, shard, slen, b->oid, seg, i, &in, NULL,
                             NULL);
        if (rc)
            die_err(rc, "bench seal: selfcheck: ");
    }
    rc = sv_open_segment(b->cipher, b->dek, b->oid, seg, 0, b->buf,
                         b->size + SV_SEAL_TAG, back);
    if (rc)
        die_err(rc, "bench seal: selfcheck: ");
    if (plain && memcmp(back, plain, b->size))
        die(1, "bench seal: selfcheck: the segment opened to other bytes");
    free(shard);
    free(back);
}

static void nonce_ad(uint64_t seg, const uint8_t *oid, uint8_t nonce[24],
                     uint8_t ad[25])
{
    int i;

    memset(nonce, 0, 24);
    memcpy(ad, oid, SV_OID_LEN);
    for (i = 0; i < 8; i++)
        nonce[i] = ad[SV_OID_LEN + i] = (uint8_t)(seg >> (8 * i));
    ad[24] = 0;
}

static double raw_seal(struct bench *b, uint64_t seg)
{
    uint8_t nonce[24], ad[25];
    double t;

    nonce_ad(seg, b->oid, nonce, ad);
    t = bu_now();
    if (b->cipher == SV_CIPHER_AES256GCM)
        crypto_aead_aes256gcm_encrypt_detached(b->buf, b->buf + b->size, NULL,
                                               b->buf, b->size, ad, 25, NULL,
                                               nonce, b->dek);
    else
        crypto_aead_xchacha20poly1305_ietf_encrypt_detached(
            b->buf, b->buf + b->size, NULL, b->buf, b->size, ad, 25, NULL,
            nonce, b->dek);
    return bu_now() - t;
}

static double raw_auth(struct bench *b, int blake)
{
    uint8_t key[32] = {1};
    double t = bu_now();
    unsigned i;

    for (i = 0; i < b->n; i++) {
        if (blake)
            crypto_generichash(b->tag[i], SV_SHARD_TAG, b->chunk_at[i],
                               b->chunk, key, sizeof(key));
        else
            crypto_onetimeauth(b->tag[i], b->chunk_at[i], b->chunk, key);
    }
    return bu_now() - t;
}

static unsigned long parse_num(const char *opt, const char *v)
{
    char *end;
    unsigned long x = strtoul(v, &end, 10);

    if (*end == 'M' || *end == 'm')
        x <<= 20, end++;
    else if (*end == 'K' || *end == 'k')
        x <<= 10, end++;
    if (!*v || *end || x == 0)
        usage_die(USAGE, "%s wants a positive number, not '%s'", opt, v);
    return x;
}

static void setup(struct bench *b)
{
    static const char key[] =
        "[shardvault-key]\nversion = 1\nkind = maintenance\n"
        "vault = 00112233445566778899aabbccddeeff\n"
        "maint = 000102030405060708090a0b0c0d0e0f"
        "101112131415161718191a1b1c1d1e1f\n"
        "naming = 202122232425262728292a2b2c2d2e2f"
        "303132333435363738393a3b3c3d3e3f\n";
    size_t padded = b->size + SV_SEAL_TAG;
    enum sv_err rc;
    unsigned i;

    rc = sv_cipher_available(b->cipher);
    if (rc)
        die_err(rc, "bench seal: ");
    rc = sv_keys_parse(key, sizeof(key) - 1, &b->kr);
    if (!rc)
        rc = sv_ec_new(b->k, b->m, &b->ec);
    if (rc)
        die_err(rc, "bench seal: ");
    b->n = b->k + b->m;
    b->chunk = ((padded + b->k - 1) / b->k + 63) / 64 * 64;
    b->buf = aligned_alloc(64, b->k * b->chunk);
    b->parity = aligned_alloc(64, b->m * b->chunk + 64);
    if (!b->buf || !b->parity)
        die(1, "bench seal: out of memory");
    memset(b->buf, 0x5a, b->k * b->chunk);
    memset(b->parity, 0, b->m * b->chunk);
    for (i = 0; i < b->n; i++)
        b->chunk_at[i] = i < b->k ? b->buf + i * b->chunk
                                  : b->parity + (i - b->k) * b->chunk;
    sv_keys_new_dek(b->dek);
    sv_keys_new_oid(b->oid);
}

int bench_seal(int argc, char **argv)
{
    struct bench b;
    double best_ours = 1e9, best_seal = 1e9, best_auth = 1e9, best_b2 = 1e9;
    double gb, x;
    unsigned long rounds = 8, r;
    int i, only_check = 0;
    uint8_t *plain;

    memset(&b, 0, sizeof(b));
    b.cipher = SV_CIPHER_XCHACHA20;
    b.k = 4;
    b.m = 2;
    b.size = 8u << 20;
    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--selfcheck")) {
            only_check = 1;
            b.size = 100000;
            continue;
        }
        if (strcmp(argv[i], "--size") && strcmp(argv[i], "--k") &&
            strcmp(argv[i], "--m") && strcmp(argv[i], "--rounds") &&
            strcmp(argv[i], "--cipher"))
            usage_die(USAGE, "unknown option '%s'", argv[i]);
        if (i + 1 >= argc)
            usage_die(USAGE, "option '%s' needs a value", argv[i]);
        if (!strcmp(argv[i], "--size"))
            b.size = parse_num("--size", argv[++i]);
        else if (!strcmp(argv[i], "--k"))
            b.k = (unsigned)parse_num("--k", argv[++i]);
        else if (!strcmp(argv[i], "--m"))
            b.m = (unsigned)parse_num("--m", argv[++i]);
        else if (!strcmp(argv[i], "--rounds"))
            rounds = parse_num("--rounds", argv[++i]);
        else if (!strcmp(argv[i], "--cipher")) {
            if (sv_cipher_parse(argv[++i], &b.cipher))
                usage_die(USAGE, "%s", sv_errmsg(SV_INVAL));
        }
    }
    if (b.k + b.m > 255 || b.m == 0 || b.size > (1ul << 32))
        usage_die(USAGE, "want 1 <= m, k + m <= 255, size <= 4 GiB");
    setup(&b);
    plain = malloc(b.size);
    if (!plain)
        die(1, "bench seal: out of memory");
    memcpy(plain, b.buf, b.size);
    ours(&b, 1);
    selfcheck(&b, 1, plain);
    free(plain);
    if (only_check) {
        printf("selfcheck ok: %u shards verify, the segment opens (%s)\n", b.n,
               sv_cipher_name(b.cipher));
        goto out;
    }
    for (r = 0; r < rounds; r++) {
        if ((x = ours(&b, r)) < best_ours)
            best_ours = x;
        if ((x = raw_seal(&b, r)) < best_seal)
            best_seal = x;
        if ((x = raw_auth(&b, 0)) < best_auth)
            best_auth = x;
        if ((x = raw_auth(&b, 1)) < best_b2)
            best_b2 = x;
    }
    gb = (double)b.size / 1e9;
    printf("segment %zu bytes, k=%u m=%u, %u chunks of %zu bytes, %s, best "
           "of %lu\n",
           b.size, b.k, b.m, b.n, b.chunk, sv_cipher_name(b.cipher), rounds);
    printf("seal+frame (ours)        %7.3f GB/s\n", gb / best_ours);
    printf("raw AEAD                 %7.3f GB/s\n", gb / best_seal);
    printf("raw poly1305 (n chunks)  %7.3f GB/s of segment, %.3f GB/s of "
           "bytes\n",
           gb / best_auth, (double)(b.n * b.chunk) / 1e9 / best_auth);
    printf("raw keyed blake2b        %7.3f GB/s of bytes (not chosen)\n",
           (double)(b.n * b.chunk) / 1e9 / best_b2);
    printf("raw AEAD + poly1305      %7.3f GB/s\n",
           gb / (best_seal + best_auth));
    printf("ratio (raw seal + raw auth) / ours = %.3f (target >= 0.9)\n",
           (best_seal + best_auth) / best_ours);
    ours(&b, rounds); /* the raw calls above re-sealed the buffer */
    selfcheck(&b, rounds, NULL);
out:
    sv_ec_free(b.ec);
    sv_keys_free(b.kr);
    free(b.buf);
    free(b.parity);
    return 0;
}
