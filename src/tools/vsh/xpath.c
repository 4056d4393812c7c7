/*
 * xpath.c - the --xpath and --wrap options of vsh's *-dumpxml commands, as
 * virsh 9.0's: the document is parsed without its blank text, the expression
 * is evaluated from the root element, and each node it selects is printed
 * formatted on its own (or, with --wrap, all of them copied under one
 * <nodes> element). An expression that is not a node set is refused with
 * virsh's line; one libxml2 cannot parse selects nothing, with libxml2's own
 * message on stderr, as in virsh. vsh_xpath_string is libvirt's
 * virXPathString, for commands that read one value out of an XML document.
 */
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>
#include <string.h>

#include "tools/vsh/commands.h"

/* A node as text, formatted as libvirt's virXMLNodeToString formats it. */
static void print_node(struct vsh_ctl *ctl, xmlDocPtr doc, xmlNodePtr node)
{
    xmlBufferPtr buf = xmlBufferCreate();
    if (!buf)
        return;
    xmlNodeDump(buf, doc, node, 0, 1);
    vsh_print(ctl, "%s\n", (const char *)xmlBufferContent(buf));
    xmlBufferFree(buf);
}

char *vsh_xpath_string(const char *xml, const char *expr)
{
    xmlDocPtr doc = xmlReadMemory(xml, (int)strlen(xml), "domain.xml", NULL,
                                  XML_PARSE_NONET | XML_PARSE_NOWARNING | XML_PARSE_NOBLANKS);
    xmlXPathContextPtr ctxt = doc ? xmlXPathNewContext(doc) : NULL;
    char *out = NULL;
    if (ctxt) {
        ctxt->node = xmlDocGetRootElement(doc);
        xmlXPathObjectPtr obj = xmlXPathEval((const xmlChar *)expr, ctxt);
        if (obj && obj->type == XPATH_STRING && obj->stringval && obj->stringval[0])
            out = strdup((const char *)obj->stringval);
        xmlXPathFreeObject(obj);
        xmlXPathFreeContext(ctxt);
    }
    xmlFreeDoc(doc);
    return out;
}

bool vsh_dump_xml(struct vsh_ctl *ctl, const char *xml, const char *url, const char *xpath,
                  bool wrap)
{
    if (!xpath) {
        vsh_print(ctl, "%s", xml);
        return true;
    }
    xmlDocPtr doc = xmlReadMemory(xml, (int)strlen(xml), url, NULL,
                                  XML_PARSE_NONET | XML_PARSE_NOWARNING | XML_PARSE_NOBLANKS);
    xmlXPathContextPtr ctxt = doc ? xmlXPathNewContext(doc) : NULL;
    if (!ctxt) {
        vsh_error(ctl, "internal error: failed to parse xml document '%s'", url);
        xmlFreeDoc(doc);
        return false;
    }
    ctxt->node = xmlDocGetRootElement(doc);
    xmlXPathObjectPtr obj = xmlXPathEval((const xmlChar *)xpath, ctxt);
    bool ok = true;
    if (obj && obj->type != XPATH_NODESET) {
        vsh_error(ctl, "internal error: Incorrect xpath '%s'", xpath);
        ok = false;
    } else if (obj && obj->nodesetval) {
        xmlNodeSetPtr set = obj->nodesetval;
        if (wrap) {
            xmlDocPtr out = xmlNewDoc((const xmlChar *)"1.0");
            xmlNodePtr root = xmlNewNode(NULL, (const xmlChar *)"nodes");
            xmlDocSetRootElement(out, root);
            for (int i = 0; i < set->nodeNr; i++) {
                xmlNodePtr copy = xmlDocCopyNode(set->nodeTab[i], out, 1);
                if (copy && !xmlAddChild(root, copy))
                    xmlFreeNode(copy);
            }
            print_node(ctl, doc, root);
            xmlFreeDoc(out);
        } else {
            for (int i = 0; i < set->nodeNr; i++)
                print_node(ctl, doc, set->nodeTab[i]);
        }
    }
    xmlXPathFreeObject(obj);
    xmlXPathFreeContext(ctxt);
    xmlFreeDoc(doc);
    return ok;
}
