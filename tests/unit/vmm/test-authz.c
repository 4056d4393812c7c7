/*
 * test-authz.c - -object authz-simple, authz-list and authz-listfile's file (vmm/authz.c):
 * what each allows
 * (QEMU's semantics: exact and fnmatch glob rules, the first match decides, the list's policy
 * otherwise) and the one-line refusals of bad option strings.
 */
#include "../tap.h"
#include "util/error.h"
#include "vmm/authz.h"

#include <string.h>

#define GOOD "C=GB,O=Vireo,CN=src.vireo.test"
#define BAD  "C=GB,O=Vireo,CN=intruder.vireo.test"

static struct authz *parse(const char *s)
{
    struct authz *a = NULL;
    struct verr e = {0};
    if (authz_parse(s, &a, &e) < 0)
        tap_diag("%s: %s", s, verr_msg(&e));
    return a;
}

static void refused(const char *s, const char *words)
{
    struct authz *a = NULL;
    struct verr e = {0};
    int r = authz_parse(s, &a, &e);
    ok(r < 0 && !a && strstr(verr_msg(&e), words) && !strchr(verr_msg(&e), '\n'),
       "refused: %s (%s)", s, verr_msg(&e));
}

int main(void)
{
    ok(authz_spec_is("authz-simple,id=a") && authz_spec_is("qom-type=authz-list,id=a") &&
           authz_spec_is("authz-listfile,id=a") && !authz_spec_is("tls-creds-x509,id=a"),
       "the types are recognised");

    struct authz *a = parse("authz-simple,id=a0,identity=C=GB,,O=Vireo,,CN=src.vireo.test");
    ok(a && !strcmp(authz_id(a), "a0"), "authz-simple parses (,, for a comma)");
    ok(a && authz_is_allowed(a, GOOD) && !authz_is_allowed(a, BAD) &&
           !authz_is_allowed(a, GOOD ",OU=x") && !authz_is_allowed(a, ""),
       "authz-simple allows its identity only");
    authz_unref(a);

    a = parse("authz-list,id=l0,policy=allow,rules.0.match=*CN=intruder.*,rules.0.policy=deny,"
              "rules.0.format=glob");
    ok(a && authz_is_allowed(a, GOOD) && !authz_is_allowed(a, BAD),
       "authz-list: a glob deny rule, policy allow otherwise");
    authz_unref(a);

    a = parse("authz-list,id=l1,rules.0.match=" BAD ",rules.0.policy=allow");
    ok(!a, "a DN with single commas is split into items (QEMU wants ,,)");
    a = parse("authz-list,id=l1,rules.0.match=C=GB,,O=Vireo,,CN=intruder.vireo.test,"
              "rules.0.policy=allow");
    ok(a && !authz_is_allowed(a, GOOD) && authz_is_allowed(a, BAD),
       "authz-list: exact by default, policy deny by default");
    authz_unref(a);

    /* The first rule that matches decides. */
    a = parse("authz-list,id=l2,policy=deny,rules.0.match=*intruder*,rules.0.policy=deny,"
              "rules.0.format=glob,rules.1.match=C=GB*,rules.1.policy=allow,rules.1.format=glob");
    ok(a && authz_is_allowed(a, GOOD) && !authz_is_allowed(a, BAD) &&
           !authz_is_allowed(a, "C=FR,CN=x"),
       "authz-list: rules in order, then the policy");
    struct authz *b = authz_ref(a);
    authz_unref(a);
    ok(b && authz_is_allowed(b, GOOD), "a reference keeps the object");
    authz_use(b);
    ok(authz_in_use(b), "in use while a server asks it");
    authz_unuse(b);
    ok(!authz_in_use(b), "not in use after");
    authz_unref(b);

    refused("authz-simple,id=a", "Parameter 'identity' is missing");
    refused("authz-simple,identity=x", "Parameter 'id' is missing");
    refused("authz-simple,id=a,identity=x,policy=deny", "Property 'authz-simple.policy' not found");
    refused("authz-list,id=a,policy=maybe", "Parameter 'policy' does not accept value 'maybe'");
    refused("authz-list,id=a,rules.0.match=x", "Parameter 'rules.0.policy' is missing");
    refused("authz-list,id=a,rules.1.match=x,rules.1.policy=allow",
            "Parameter 'rules.0.match' is missing");
    refused("authz-list,id=a,rules.0.match=x,rules.0.policy=allow,rules.0.format=regex",
            "Parameter 'rules.0.format' does not accept value 'regex'");
    refused("authz-list,id=a,rules.0.colour=x", "Parameter 'rules.0.colour' is unexpected");
    refused("authz-list,id=a,rules.x.match=x", "is not rules.N.match");
    refused("authz-list,id=a,rules.99999999999999999999.match=x", "is not rules.N.match");
    refused("authz-list,id=a,rules.64.match=x", "is not rules.N.match");
    refused("authz-list,id=a,rules.01.match=x", "is not rules.N.match");
    refused("authz-list,id=a,rules.0match=x", "is not rules.N.match");
    refused("authz-list,id=a,identity=x", "Property 'authz-list.identity' not found");
    refused("authz-listfile,id=a", "Parameter 'filename' is missing");
    refused("authz-listfile,id=a,filename=f,refresh=maybe",
            "Parameter 'refresh' expects 'on' or 'off'");
    refused("authz-listfile,id=a,filename=f,policy=deny",
            "Property 'authz-listfile.policy' not found");
    refused("authz-list,qom-type=authz-simple,id=a",
            "Parameter 'qom-type' does not accept value 'authz-simple'");
    /* authz-listfile's JSON (QEMU's documented example has trailing commas). */
    static const char doc[] = "{\n \"policy\": \"deny\",\n \"rules\": [\n"
                              "  {\"match\": \"*CN=intruder.*\", \"policy\": \"deny\", "
                              "\"format\": \"glob\"},\n"
                              "  {\"match\": \"C=GB,*\", \"policy\": \"allow\", "
                              "\"format\": \"glob\"},\n ],\n}\n";
    struct authz_list *l = NULL;
    struct verr e = {0};
    ok(authz_list_parse_json(doc, strlen(doc), &l, &e) == 0 && l, "a list file parses (%s)",
       verr_msg(&e));
    ok(l && authz_list_allows(l, GOOD) && !authz_list_allows(l, BAD) &&
           !authz_list_allows(l, "C=FR,CN=x"),
       "the file's rules in order, then its policy");
    authz_list_free(l);
    static const struct {
        const char *text, *words;
    } bad[] = {
        {"{\"rules\": [{\"match\": \"x\", \"policy\": \"maybe\"}]}",
         "Parameter 'rules[0].policy' does not accept value 'maybe'"},
        {"{\"rules\": [{\"policy\": \"allow\"}]}", "Parameter 'rules[0].match' is missing"},
        {"{\"rules\": [{\"match\": 5, \"policy\": \"allow\"}]}",
         "Invalid parameter type for 'rules[0].match', expected: string"},
        {"{\"rules\": [{\"match\": \"x\", \"policy\": \"allow\", \"format\": \"re\"}]}",
         "Parameter 'rules[0].format' does not accept value 're'"},
        {"{\"rules\": [{\"match\": \"x\", \"policy\": \"allow\", \"colour\": 1}]}",
         "Parameter 'rules[0].colour' is unexpected"},
        {"{\"rules\": {}}", "expected: array"},
        {"{\"policy\": \"deny\"} x", "text after the list"},
        {"{\"policy\": \"deny\"", "not valid JSON"},
        {"[]", "must be a JSON object"},
        {"{\"colour\": 1}", "Parameter 'colour' is unexpected"},
        {"", "not valid JSON"},
    };
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        l = NULL;
        e = (struct verr){0};
        int r = authz_list_parse_json(bad[i].text, strlen(bad[i].text), &l, &e);
        ok(r < 0 && !l && strstr(verr_msg(&e), bad[i].words), "list file refused: %s (%s)",
           bad[i].text, verr_msg(&e));
    }
    return tap_done();
}
