/* list: the one intrusive doubly linked list every module uses (libuv's queue.h is the model). */
#ifndef KPROFEFE_LIST_H
#define KPROFEFE_LIST_H

#include <stddef.h>

/*
 * A node embedded in each element, and the same type as the list's head: the head is a
 * sentinel whose next is the first element and prev the last, so that insertion and
 * removal never test for an end. An empty list's head points at itself; so does a node
 * that is in no list (list_init, or after list_remove), which makes list_linked true
 * only while it is in one.
 *
 * No allocation: the element owns its node, the list owns nothing. Removing the element
 * a walk stands on is safe with list_foreach_safe's pattern:
 *
 *	for (list_node *n = list_first(&l), *next; n != &l; n = next) {
 *		next = n->next;
 *		...
 *	}
 */
typedef struct list_node {
	struct list_node *next;
	struct list_node *prev;
} list_node;

/* The element that holds node n, for a member named field of type T. */
#define LIST_ENTRY(n, T, field) ((T *)(void *)((char *)(n) - offsetof(T, field)))

static inline void list_init(list_node *head)
{
	head->next = head;
	head->prev = head;
}

static inline int list_empty(const list_node *head)
{
	return head->next == head;
}

/* Non-zero while n is in a list (n was list_init'ed or removed otherwise). */
static inline int list_linked(const list_node *n)
{
	return n->next != n;
}

/* The first/last element's node, or head itself when the list is empty. */
static inline list_node *list_first(const list_node *head)
{
	return head->next;
}

static inline list_node *list_last(const list_node *head)
{
	return head->prev;
}

static inline void list_insert_after(list_node *pos, list_node *n)
{
	n->prev = pos;
	n->next = pos->next;
	pos->next->prev = n;
	pos->next = n;
}

static inline void list_push_back(list_node *head, list_node *n)
{
	list_insert_after(head->prev, n);
}

static inline void list_push_front(list_node *head, list_node *n)
{
	list_insert_after(head, n);
}

/* Takes n out of its list and leaves it unlinked; a no-op when it is in none. */
static inline void list_remove(list_node *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	list_init(n);
}

/* The number of elements: a walk, for tests and rare counts (keep a counter when hot). */
static inline size_t list_count(const list_node *head)
{
	size_t n = 0;
	for (const list_node *p = head->next; p != head; p = p->next)
		n++;
	return n;
}

#endif
