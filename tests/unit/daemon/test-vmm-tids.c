/*
 * test-vmm-tids.c - the thread ids vireod reads from vireo-vmm's answers
 * (src/daemon/vmm-driver.c): query-cpus-fast's vCPU threads by cpu-index (used at start,
 * at reattach and after a live vCPU hot-plug) and query-iothreads' daemon-made I/O threads
 * by id. Entries without the fields are passed over, indexes out of range are ignored, and
 * an answer that is no array is -EIO with nothing allocated.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>

#include "daemon/vmm-driver.h"
#include "tap.h"

static int vcpus(const char *text, pid_t **tids, size_t *n)
{
    struct json_object *ret = json_tokener_parse(text);
    int r = vd_vmm_parse_vcpu_tids(ret, tids, n);
    json_object_put(ret);
    return r;
}

int main(void)
{
    pid_t *tids;
    size_t n;

    is_int(vcpus("[{\"cpu-index\":0,\"thread-id\":100},{\"cpu-index\":1,\"thread-id\":101}]", &tids,
                 &n),
           0, "two vCPUs: parsed");
    is_int(n, 2, "two vCPUs: two ids");
    ok(tids[0] == 100 && tids[1] == 101, "two vCPUs: in cpu-index order");
    free(tids);

    /* After a hot-plug and an unplug the list need not be dense or in order. */
    is_int(vcpus("[{\"cpu-index\":2,\"thread-id\":202},{\"cpu-index\":0,\"thread-id\":200},"
                 "{\"cpu-index\":1}]",
                 &tids, &n),
           0, "out of order, one without a thread-id: parsed");
    is_int(n, 3, "the count is one past the highest index");
    ok(tids[0] == 200 && tids[1] == 0 && tids[2] == 202,
       "each id at its index, 0 where the entry had none");
    free(tids);

    is_int(vcpus("[{\"cpu-index\":5,\"thread-id\":1},{\"cpu-index\":-1,\"thread-id\":2},"
                 "{\"thread-id\":3}]",
                 &tids, &n),
           0, "indexes out of range: parsed");
    is_int(n, 0, "indexes out of range (and a missing one) are ignored");
    free(tids);

    is_int(vcpus("[]", &tids, &n), 0, "no vCPUs: parsed");
    is_int(n, 0, "no vCPUs: none");
    free(tids);

    is_int(vcpus("{\"cpu-index\":0}", &tids, &n), -EIO, "an object instead of a list: -EIO");
    ok(tids == NULL && n == 0, "and nothing is allocated");
    is_int(vd_vmm_parse_vcpu_tids(NULL, &tids, &n), -EIO, "no answer at all: -EIO");

    struct vd_iothread_tid *its;
    struct json_object *ret = json_tokener_parse(
        "[{\"id\":\"iothread3\",\"thread-id\":33},{\"id\":\"mine\",\"thread-id\":9},"
        "{\"id\":\"iothread1\",\"thread-id\":11},{\"id\":\"iothread0\",\"thread-id\":5}]");
    is_int(vd_vmm_parse_iothreads(ret, &its, &n), 0, "query-iothreads: parsed");
    is_int(n, 2, "only the daemon's iothreadN (N > 0) count");
    ok(n == 2 && its[0].id == 1 && its[0].tid == 11 && its[1].id == 3 && its[1].tid == 33,
       "by ascending id");
    free(its);
    json_object_put(ret);
    return tap_done();
}
