/*
 * tests/lib/g1scan.h: the evidence for guarantee G1 (confidentiality),
 * shared by the fs suite (tests/engine) and the real-server suite
 * (tests/integration): a corpus of objects with marker strings,
 * distinctive names and repeated plaintext blocks, and a scanner that
 * looks for any of it in bytes read straight from a provider's storage.
 *
 * The scanner finds: any marker, any object name, any 32-byte window of
 * any plaintext object (a hash set of every window, matched with a rolling
 * hash, each hit confirmed byte for byte), and any registered secret (key
 * file text, root secret). Windows of one repeated byte are left out: the
 * erasure code pads chunks with zeros, so such runs are in every shard
 * whatever the plaintext.
 */
#ifndef SV_G1SCAN_H
#define SV_G1SCAN_H

#include <stddef.h>
#include <stdint.h>

#define G1_WINDOW 32

struct g1_corpus;

/* The fixed corpus, segsize being the vault's segment size (some objects
 * span several segments). Asserts on allocation failure. */
struct g1_corpus *g1_corpus_new(size_t segsize);
void g1_corpus_free(struct g1_corpus *c);

size_t g1_count(const struct g1_corpus *c);
const char *g1_name(const struct g1_corpus *c, size_t i);
const uint8_t *g1_data(const struct g1_corpus *c, size_t i, size_t *len);

/* Also look for these bytes (key file text, the root secret...); label
 * names them in findings. The bytes are copied. */
void g1_add_secret(struct g1_corpus *c, const char *label, const void *buf,
                   size_t len);

/* Look for the corpus in len bytes stored at where (a file or key, for
 * the finding). 0 if clean; else the number of findings, the first
 * described in why. */
unsigned g1_scan(const struct g1_corpus *c, const char *where,
                 const uint8_t *buf, size_t len, char *why, size_t cap);

/* Check a shard key for a relation to the corpus: it must be
 * "<prefix>/<2 hex>/<32 hex>" (prefix may be "") and hold no object name
 * and no prefix of any hex digest of a name (BLAKE2b, SHA-256, SHA-512)
 * nor of an object id from oids (noid of them, may be 0). 0 if clean, else
 * 1 with the reason in why. */
int g1_check_key(const struct g1_corpus *c, const char *prefix,
                 const char *key, const uint8_t (*oids)[16], size_t noid,
                 char *why, size_t cap);

/* Holdings check for one segment: holder[i] is who holds shard i (a
 * provider, owner or jurisdiction name), n of them. 0 if every holder has
 * fewer than k (confidentiality) and at most m (availability); else 1 with
 * the holder and count in why. */
int g1_check_holders(const char *const *holder, unsigned n, unsigned k,
                     unsigned m, char *why, size_t cap);

#endif
