/*
 * tools/rm.c: `shardvault rm NAME`. The object's record and data key go at
 * once; its shards are deleted from the providers right after (or at a
 * later open for providers that cannot be reached now).
 */
#include <stdio.h>
#include <string.h>

#include "engine/shardvault.h"
#include "tools/tools.h"
#include "tools/vaultutil.h"

#define USAGE "rm NAME"

int cmd_rm(int argc, char **argv)
{
    struct sv_vault *v;
    uint64_t n = 0;
    enum sv_err rc;

    if (argc != 2 || argv[1][0] == '-')
        usage_die(USAGE, "rm takes one object NAME");
    v = vt_open(0, NULL);
    rc = sv_rm(v, argv[1], &n);
    sv_vault_close(v);
    if (rc)
        die_err(rc, "%s", "");
    if (!g_opt.quiet)
        printf("removed '%s' (data key destroyed, %llu shard%s deleted)\n",
               argv[1], (unsigned long long)n, n == 1 ? "" : "s");
    return 0;
}
