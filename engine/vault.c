/*
 * engine/vault.c: creating, opening and closing a vault, and the small
 * helpers the put, get and verify paths share (codec cache, provider
 * lookup, placement inputs).
 *
 * A vault directory holds shardvault.conf, the key file (unless the config
 * puts it elsewhere or uses key_command), catalog/ (LMDB) and locks/
 * (uploads: one locked byte per upload in flight, so crash recovery can
 * tell a live upload of another process from a dead one; the repair
 * daemon's lock). With the embedded default it also
 * holds providers/, the six local directory providers.
 */
#include "engine/vault.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine/seal.h"

#define POOL_MIN 4
#define POOL_MAX 64
/* Quota of a provider without one, for placement weights: 1 PiB. */
#define UNLIMITED_FREE ((uint64_t)1 << 50)

static char *path_join(const char *dir, const char *name)
{
    char *p;

    if (asprintf(&p, "%s/%s", dir, name) < 0)
        return NULL;
    return p;
}

void sv_err_copy(enum sv_err rc, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s", sv_errmsg(rc));
}

enum sv_err sv_check_name(const char *name)
{
    size_t i, len;

    if (!name || !*name)
        return sv_err_set(SV_INVAL, "an object name cannot be empty");
    len = strlen(name);
    if (len >= SV_NAME_MAX)
        return sv_err_set(SV_INVAL,
                          "object name of %zu bytes is too long "
                          "(at most %d)",
                          len, SV_NAME_MAX - 1);
    for (i = 0; i < len; i++)
        if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
            return sv_err_set(SV_INVAL,
                              "object name '%.64s' holds a control "
                              "character at byte %zu",
                              name, i);
    return SV_OK;
}

/*
 * Replace `key = value` in [section] of an INI text, or add it after the
 * section header (or a new section at the end). The result is malloc'd.
 */
static char *ini_set(const char *text, const char *section, const char *key,
                     const char *value)
{
    size_t tlen = strlen(text),
           cap = tlen + strlen(key) + strlen(value) + strlen(section) + 32;
    char *out = malloc(cap), *o = out;
    const char *p = text, *eol, *insert_after = NULL;
    int in_sec = 0, done = 0;

    if (!out)
        return NULL;
    while (*p) {
        const char *s = p, *e;

        eol = strchr(p, '\n');
        eol = eol ? eol + 1 : p + strlen(p);
        while (s < eol && (*s == ' ' || *s == '\t'))
            s++;
        if (*s == '[') {
            const char *b = s + 1, *c = memchr(s, ']', (size_t)(eol - s));

            in_sec = c && (size_t)(c - b) == strlen(section) &&
                     !memcmp(b, section, strlen(section));
            if (in_sec)
                insert_after = eol;
        } else if (in_sec && !done) {
            e = s;
            while (e < eol && *e != '=' && *e != ' ' && *e != '\t')
                e++;
            if ((size_t)(e - s) == strlen(key) &&
                !memcmp(s, key, strlen(key))) {
                o += sprintf(o, "%s = %s\n", key, value);
                done = 1;
                p = eol;
                continue;
            }
        }
        memcpy(o, p, (size_t)(eol - p));
        o += eol - p;
        p = eol;
    }
    *o = '\0';
    if (done)
        return out;
    if (insert_after) {
        size_t at = (size_t)(insert_after - text);
        char line[256];
        int n = snprintf(line, sizeof(line), "%s = %s\n", key, value);

        memcpy(out, text, at);
        memcpy(out + at, line, (size_t)n);
        memcpy(out + at + n, text + at, tlen - at + 1);
        return out;
    }
    sprintf(o, "%s[%s]\n%s = %s\n",
            (tlen && text[tlen - 1] != '\n') ? "\n" : "", section, key, value);
    return out;
}

static enum sv_err write_new_file(const char *path, const char *text,
                                  mode_t mode)
{
    size_t len = strlen(text), off = 0;
    ssize_t w;
    int fd;

    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0)
        return sv_err_set(errno == EEXIST ? SV_EXISTS : SV_IO,
                          "cannot create %s: %s", path, strerror(errno));
    while (off < len) {
        w = write(fd, text + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            int e = errno;

            close(fd);
            unlink(path);
            return sv_err_set(SV_IO, "cannot write %s: %s", path, strerror(e));
        }
        off += (size_t)w;
    }
    if (fsync(fd) || close(fd)) {
        unlink(path);
        return sv_err_set(SV_IO, "cannot write %s: %s", path, strerror(errno));
    }
    return SV_OK;
}

/* Remove the files of a flat directory, then the directory. */
static void remove_flat_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char *p;

    if (d) {
        while ((de = readdir(d))) {
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                continue;
            p = path_join(dir, de->d_name);
            if (p)
                unlink(p);
            free(p);
        }
        closedir(d);
    }
    rmdir(dir);
}

/* A fresh catalog holding only the meta record for these keys (vault
 * creation, catalog rebuild). */
enum sv_err sv_vault_new_catalog(const char *cat_dir,
                                 const struct sv_config *cfg,
                                 const struct sv_keyring *kr)
{
    struct sv_cat *cat = NULL;
    struct sv_cat_meta meta;
    enum sv_err rc;

    rc = sv_cat_open(cat_dir, 1, &cat);
    if (rc)
        return rc;
    memset(&meta, 0, sizeof(meta));
    meta.schema = SV_CAT_SCHEMA;
    sv_keys_vault_id(kr, meta.vault_id);
    sv_keys_check_value(kr, meta.key_check);
    meta.k = (uint8_t)cfg->k;
    meta.m = (uint8_t)cfg->m;
    meta.created = (int64_t)time(NULL);
    rc = sv_cat_meta_set(cat, &meta);
    sv_cat_close(cat);
    return rc;
}

enum sv_err sv_vault_create(const char *dir, const char *config_text,
                            unsigned k, unsigned m, struct sv_vault **out)
{
    char *text = NULL, *tmp, *conf_path = NULL, *cat_dir = NULL;
    char *lock_dir = NULL, num[16];
    struct sv_config *cfg = NULL;
    struct sv_keyring *kr = NULL;
    uint8_t vault_id[SV_VAULT_ID_LEN];
    int made_dir = 0, wrote_conf = 0, made_key = 0, made_cat = 0;
    struct stat st;
    enum sv_err rc;

    if (!dir || !*dir)
        return sv_err_set(SV_INVAL, "init: no vault directory given");
    conf_path = path_join(dir, SV_CONFIG_FILE);
    cat_dir = path_join(dir, "catalog");
    lock_dir = path_join(dir, "locks");
    if (!conf_path || !cat_dir || !lock_dir) {
        rc = sv_err_set(SV_NOMEM, "init: out of memory");
        goto out;
    }
    if (stat(conf_path, &st) == 0 || stat(cat_dir, &st) == 0) {
        rc = sv_err_set(SV_EXISTS, "init: %s already holds a vault", dir);
        goto out;
    }
    text = config_text ? strdup(config_text) : sv_config_default_text(dir);
    if (!text) {
        rc = sv_err_set(SV_NOMEM, "init: out of memory");
        goto out;
    }
    if (k) {
        snprintf(num, sizeof(num), "%u", k);
        tmp = ini_set(text, "vault", "k", num);
        free(text);
        text = tmp;
    }
    if (m && text) {
        snprintf(num, sizeof(num), "%u", m);
        tmp = ini_set(text, "vault", "m", num);
        free(text);
        text = tmp;
    }
    if (!text) {
        rc = sv_err_set(SV_NOMEM, "init: out of memory");
        goto out;
    }
    /* Validate before writing anything. */
    rc = sv_config_parse(text, strlen(text), conf_path, dir, &cfg);
    if (rc)
        goto out;
    if (mkdir(dir, 0700) == 0)
        made_dir = 1;
    else if (errno != EEXIST) {
        rc = sv_err_set(SV_IO, "init: cannot create %s: %s", dir,
                        strerror(errno));
        goto out;
    }
    rc = write_new_file(conf_path, text, 0644);
    if (rc)
        goto out;
    wrote_conf = 1;
    if (cfg->key_command) {
        rc = sv_keys_load_command(cfg->key_command, &kr);
        if (rc)
            goto out;
    } else {
        sv_keys_new_oid(vault_id); /* 16 random bytes, as a vault id */
        rc = sv_keys_create(cfg->key_file, vault_id);
        if (rc)
            goto out;
        made_key = 1;
        rc = sv_keys_load(cfg->key_file, &kr);
        if (rc)
            goto out;
    }
    if (mkdir(lock_dir, 0700) && errno != EEXIST) {
        rc = sv_err_set(SV_IO, "init: cannot create %s: %s", lock_dir,
                        strerror(errno));
        goto out;
    }
    made_cat = 1;
    rc = sv_vault_new_catalog(cat_dir, cfg, kr);
    if (rc)
        goto out;
    sv_keys_free(kr);
    kr = NULL;
    /* Opening registers the providers and creates their storage. */
    if (out) {
        rc = sv_vault_open(dir, NULL, out);
    } else {
        struct sv_vault *v = NULL;

        rc = sv_vault_open(dir, NULL, &v);
        sv_vault_close(v);
    }
out:
    sv_keys_free(kr);
    if (rc) {
        /* only what this call made: an existing vault returned before
         * anything was written */
        if (made_cat)
            remove_flat_dir(cat_dir);
        if (made_key)
            unlink(cfg->key_file);
        if (wrote_conf) {
            unlink(conf_path);
            rmdir(lock_dir);
        }
        if (made_dir)
            rmdir(dir);
    }
    sv_config_free(cfg);
    free(text);
    free(conf_path);
    free(cat_dir);
    free(lock_dir);
    return rc;
}

void sv_hex(const uint8_t *b, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    size_t i;

    for (i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * n] = '\0';
}

static enum sv_err load_keys(struct sv_vault *v, const struct sv_open_opts *o)
{
    enum sv_err rc;

    if (o && o->key_path) {
        v->key_path = strdup(o->key_path);
        if (!v->key_path)
            return sv_err_set(SV_NOMEM, "open: out of memory");
        return sv_keys_load(v->key_path, &v->kr);
    }
    if (v->cfg->key_command) {
        rc = sv_keys_load_command(v->cfg->key_command, &v->kr);
        if (rc)
            return sv_err_wrap(rc, "key_command of %s: ", v->config_path);
        return SV_OK;
    }
    v->key_path = strdup(v->cfg->key_file);
    if (!v->key_path)
        return sv_err_set(SV_NOMEM, "open: out of memory");
    return sv_keys_load(v->key_path, &v->kr);
}

static enum sv_err check_keys(struct sv_vault *v)
{
    struct sv_cat_meta meta;
    uint8_t id[SV_VAULT_ID_LEN], kcv[SV_KEY_CHECK_LEN];
    char a[2 * SV_VAULT_ID_LEN + 1], b[2 * SV_VAULT_ID_LEN + 1];
    const char *what = v->key_path ? v->key_path : "the key_command's key";
    enum sv_err rc;

    rc = sv_cat_meta_get(v->cat, &meta);
    if (rc)
        return rc;
    sv_keys_vault_id(v->kr, id);
    if (memcmp(id, meta.vault_id, sizeof(id))) {
        sv_hex(id, sizeof(id), a);
        sv_hex(meta.vault_id, sizeof(id), b);
        return sv_err_set(SV_AUTH,
                          "key file %s belongs to vault %s, but the vault in "
                          "%s is %s: wrong key file",
                          what, a, v->dir, b);
    }
    /* A maintenance keyring's check value is of its maintenance key, which
     * the catalog does not hold; the vault id check above covers it. */
    if (!sv_keys_is_full(v->kr))
        return SV_OK;
    sv_keys_check_value(v->kr, kcv);
    if (memcmp(kcv, meta.key_check, sizeof(kcv)))
        return sv_err_set(SV_AUTH,
                          "key file %s does not match the vault in %s (its "
                          "key check value differs): wrong or damaged key "
                          "file",
                          what, v->dir);
    return SV_OK;
}

static enum sv_err open_providers(struct sv_vault *v)
{
    struct sv_prov_params pp;
    struct sv_prov_rec rec;
    enum sv_err rc;
    size_t i;

    v->prov = calloc(v->cfg->nprov ? v->cfg->nprov : 1, sizeof(*v->prov));
    if (!v->prov)
        return sv_err_set(SV_NOMEM, "open: out of memory");
    v->nprov = v->cfg->nprov;
    for (i = 0; i < v->nprov; i++) {
        struct sv_vprov *vp = &v->prov[i];

        vp->conf = &v->cfg->prov[i];
        memset(&pp, 0, sizeof(pp));
        pp.name = vp->conf->name;
        pp.cfg_file = v->config_path;
        pp.base_dir = v->dir;
        pp.kv = vp->conf->kv;
        pp.nkv = vp->conf->nkv;
        rc = sv_prov_open(&pp, &vp->p);
        if (rc) {
            /* A provider that cannot be opened is down for this run;
             * reads go to the others and puts place around it. */
            vp->p = NULL;
            vp->open_err = strdup(sv_errmsg(rc));
            sv_warn("provider %s: cannot open: %s", vp->conf->name,
                    sv_errmsg(rc));
        }
        rc = sv_cat_provider_id(v->cat, vp->conf->name, &vp->id);
        if (rc)
            return rc;
        rc = sv_cat_provider_get(v->cat, vp->id, &rec);
        if (rc == SV_OK) {
            vp->state = rec.state;
            vp->used = rec.bytes;
        } else if (rc == SV_NOTFOUND) {
            vp->state = SV_PROV_UP;
        } else {
            return rc;
        }
    }
    return SV_OK;
}

unsigned sv_cpus(void)
{
    cpu_set_t set;
    long n;

    if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
        return (unsigned)CPU_COUNT(&set);
    n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 1;
}

enum sv_err sv_vault_open(const char *dir, const struct sv_open_opts *opts,
                          struct sv_vault **out)
{
    struct sv_vault *v;
    struct stat st;
    char *cat_dir = NULL, *lock_dir = NULL;
    unsigned threads;
    size_t i;
    enum sv_err rc;

    if (!dir || !*dir || !out)
        return sv_err_set(SV_INVAL, "open: no vault directory given");
    v = calloc(1, sizeof(*v));
    if (!v)
        return sv_err_set(SV_NOMEM, "open: out of memory");
    pthread_mutex_init(&v->mu, NULL);
    v->upload_fd = -1;
    v->flags = opts ? opts->flags : 0;
    v->jobs = opts && opts->jobs ? opts->jobs : sv_cpus();
    if (v->jobs > SV_JOBS_MAX)
        v->jobs = SV_JOBS_MAX;
    v->dir = strdup(dir);
    v->config_path = path_join(dir, SV_CONFIG_FILE);
    cat_dir = path_join(dir, "catalog");
    lock_dir = path_join(dir, "locks");
    if (!v->dir || !v->config_path || !cat_dir || !lock_dir) {
        rc = sv_err_set(SV_NOMEM, "open: out of memory");
        goto out;
    }
    if (stat(v->config_path, &st) != 0) {
        rc = sv_err_set(SV_NOTFOUND,
                        "no vault in %s (no %s there; create one with "
                        "`shardvault init %s`)",
                        dir, SV_CONFIG_FILE, dir);
        goto out;
    }
    rc = sv_config_load(v->config_path, dir, &v->cfg);
    if (rc)
        goto out;
    rc = load_keys(v, opts);
    if (rc)
        goto out;
    if (stat(cat_dir, &st) != 0) {
        rc = sv_err_set(SV_NOTFOUND, "no catalog in %s (%s is missing)", dir,
                        cat_dir);
        goto out;
    }
    rc = sv_cat_open(cat_dir, 0, &v->cat);
    if (rc)
        goto out;
    rc = check_keys(v);
    if (rc)
        goto out;
    rc = open_providers(v);
    if (rc)
        goto out;
    mkdir(lock_dir, 0700);
    threads = v->cfg->k + v->cfg->m;
    for (i = 0; i < v->nprov && threads < v->nprov; i++)
        threads++;
    threads = threads < POOL_MIN ? POOL_MIN : threads;
    threads = threads > POOL_MAX ? POOL_MAX : threads;
    rc = sv_pool_new(threads, &v->pool);
    if (rc)
        goto out;
    if (!(v->flags & SV_OPEN_READONLY)) {
        enum sv_err r2 = sv_vault_recover(v);

        if (r2)
            sv_warn("vault %s: crash recovery left work for later: %s", dir,
                    sv_errmsg(r2));
    }
    *out = v;
    v = NULL;
    rc = SV_OK;
out:
    sv_vault_close(v);
    free(cat_dir);
    free(lock_dir);
    return rc;
}

void sv_vault_close(struct sv_vault *v)
{
    size_t i;

    if (!v)
        return;
    sv_pool_free(v->pool);
    for (i = 0; v->prov && i < v->nprov; i++) {
        sv_prov_close(v->prov[i].p);
        free(v->prov[i].open_err);
    }
    free(v->prov);
    for (i = 0; i < SV_EC_CACHE; i++)
        sv_ec_free(v->ec[i].ec);
    sv_cat_close(v->cat);
    sv_keys_free(v->kr);
    sv_config_free(v->cfg);
    if (v->upload_fd >= 0)
        close(v->upload_fd); /* releases this handle's upload locks */
    pthread_mutex_destroy(&v->mu);
    free(v->dir);
    free(v->config_path);
    free(v->key_path);
    free(v);
}

enum sv_err sv_vault_ec(struct sv_vault *v, unsigned k, unsigned m,
                        struct sv_ec **out)
{
    struct sv_ec *ec = NULL;
    enum sv_err rc = SV_OK;
    size_t i, slot = SV_EC_CACHE;

    pthread_mutex_lock(&v->mu);
    for (i = 0; i < SV_EC_CACHE; i++) {
        if (v->ec[i].ec && v->ec[i].k == k && v->ec[i].m == m) {
            *out = v->ec[i].ec;
            goto out;
        }
        if (!v->ec[i].ec && slot == SV_EC_CACHE)
            slot = i;
    }
    rc = sv_ec_new(k, m, &ec);
    if (rc)
        goto out;
    if (slot == SV_EC_CACHE) {
        /* Full: objects of many codes at once are rare; evicting could
         * free a codec another thread uses, so the cache only grows. */
        rc = sv_err_set(SV_NOMEM, "more than %d erasure codes in use",
                        SV_EC_CACHE);
        sv_ec_free(ec);
        goto out;
    }
    v->ec[slot].k = k;
    v->ec[slot].m = m;
    v->ec[slot].ec = ec;
    *out = ec;
out:
    pthread_mutex_unlock(&v->mu);
    return rc;
}

int sv_vault_prov_index(const struct sv_vault *v, uint16_t id)
{
    size_t i;

    for (i = 0; i < v->nprov; i++)
        if (v->prov[i].id == id)
            return (int)i;
    return -1;
}

const char *sv_vault_prov_name(const struct sv_vault *v, uint16_t id, char *buf,
                               size_t cap)
{
    int i = sv_vault_prov_index(v, id);

    if (i >= 0)
        return v->prov[i].conf->name;
    snprintf(buf, cap, "#%u", (unsigned)id);
    return buf;
}

int sv_vault_prov_usable(struct sv_vault *v, size_t i, uint64_t need)
{
    const struct sv_vprov *vp = &v->prov[i];
    uint64_t used;

    if (!vp->p)
        return 0;
    if (vp->state != SV_PROV_UP && vp->state != SV_PROV_SUSPECT)
        return 0;
    if (!vp->conf->quota)
        return 1;
    pthread_mutex_lock(&v->mu);
    used = vp->used;
    pthread_mutex_unlock(&v->mu);
    return used < vp->conf->quota && vp->conf->quota - used >= need;
}

void sv_vault_place_provs(struct sv_vault *v, uint64_t need,
                          struct sv_place_prov *provs)
{
    size_t i;

    for (i = 0; i < v->nprov; i++) {
        const struct sv_prov_conf *c = v->prov[i].conf;
        uint64_t free_b = UNLIMITED_FREE, used;

        if (c->quota) {
            pthread_mutex_lock(&v->mu);
            used = v->prov[i].used;
            pthread_mutex_unlock(&v->mu);
            free_b = used < c->quota ? c->quota - used : 0;
        }
        provs[i].name = c->name;
        provs[i].owner = c->owner;
        provs[i].jurisdiction = c->jurisdiction;
        provs[i].usable = sv_vault_prov_usable(v, i, need);
        provs[i].weight =
            (double)(free_b ? free_b : 1) * (c->weight > 0 ? c->weight : 1.0);
    }
}

void sv_vault_caps(const struct sv_vault *v, struct sv_place_caps *caps)
{
    caps->per_provider = v->cfg->max_per_provider;
    caps->per_owner = v->cfg->max_per_owner;
    caps->per_jurisdiction = v->cfg->max_per_jurisdiction;
}

void sv_vault_add_used(struct sv_vault *v, size_t i, int64_t bytes)
{
    pthread_mutex_lock(&v->mu);
    if (bytes < 0 && (uint64_t)-bytes > v->prov[i].used)
        v->prov[i].used = 0;
    else
        v->prov[i].used += (uint64_t)bytes;
    pthread_mutex_unlock(&v->mu);
}

size_t sv_vault_nprov(const struct sv_vault *v)
{
    return v ? v->nprov : 0;
}

void sv_vault_provider(const struct sv_vault *v, size_t i,
                       struct sv_provider_info *out)
{
    const struct sv_vprov *vp = &v->prov[i];
    struct sv_prov_rec rec;

    memset(out, 0, sizeof(*out));
    out->name = vp->conf->name;
    out->type = vp->conf->type;
    out->owner = vp->conf->owner;
    out->jurisdiction = vp->conf->jurisdiction;
    out->quota = vp->conf->quota;
    out->price_storage = vp->conf->price_storage;
    out->price_egress = vp->conf->price_egress;
    out->state = vp->p ? sv_prov_state_name(vp->state) : "unavailable";
    if (sv_cat_provider_get(v->cat, vp->id, &rec) == SV_OK) {
        out->shards = rec.shards;
        out->bytes = rec.bytes;
    }
}

void sv_vault_info(const struct sv_vault *v, struct sv_vault_info *out)
{
    memset(out, 0, sizeof(*out));
    out->dir = v->dir;
    out->config_path = v->config_path;
    out->key_path = v->key_path;
    out->k = v->cfg->k;
    out->m = v->cfg->m;
    out->write_quorum = v->cfg->write_quorum;
    out->segment_size = v->cfg->segment_size;
    out->full_keys = sv_keys_is_full(v->kr);
}

void sv_object_info_from(const struct sv_obj_rec *o, struct sv_object_info *out)
{
    static const uint8_t zero[32];

    memset(out, 0, sizeof(*out));
    out->name = o->name;
    memcpy(out->oid, o->oid, sizeof(out->oid));
    out->size = o->size;
    out->mtime = o->mtime;
    out->created = o->created;
    out->segment_size = o->segment_size;
    out->nsegments = o->nsegments;
    out->k = o->k;
    out->m = o->m;
    out->cipher = sv_cipher_name((enum sv_cipher)o->cipher);
    out->key_gen = o->key_gen;
    out->has_hash = memcmp(o->hash, zero, sizeof(zero)) != 0;
    memcpy(out->hash, o->hash, sizeof(out->hash));
}
