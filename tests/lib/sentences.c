/*
 * tests/lib/sentences.c: see sentences.h.
 */
#include "tests/lib/sentences.h"

#include <stdio.h>
#include <string.h>

void tu_sentence(void *ctx, const char *sentence)
{
    struct tu_sentences *s = ctx;
    size_t len = strlen(s->buf);

    s->n++;
    snprintf(s->buf + len, sizeof(s->buf) - len, "%s\n", sentence);
}
