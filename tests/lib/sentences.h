/*
 * tests/lib/sentences.h: collect the sentences an engine callback reports
 * (verify problems, rebuild findings) to assert on their text.
 */
#ifndef SV_SENTENCES_H
#define SV_SENTENCES_H

struct tu_sentences {
    char buf[16384]; /* one per line; the tail is dropped when full */
    unsigned n;
};

/* A callback of the shape sv_verify_fn / sv_rebuild_fn; ctx is a
 * struct tu_sentences (zeroed before use). */
void tu_sentence(void *ctx, const char *sentence);

#endif
