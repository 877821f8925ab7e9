/* Unit tests of list: order, removal at either end and in the middle, unlinked nodes, entries. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "kprofefe/list.h"

typedef struct elem {
	int value;
	list_node node;
} elem;

static int value_at(list_node *n)
{
	return LIST_ENTRY(n, elem, node)->value;
}

static void test_push_keeps_order(void **state)
{
	(void)state;
	list_node head;
	list_init(&head);
	assert_true(list_empty(&head));
	elem e[3] = {{1, {0}}, {2, {0}}, {3, {0}}};
	list_push_back(&head, &e[1].node);
	list_push_back(&head, &e[2].node);
	list_push_front(&head, &e[0].node);
	assert_int_equal(list_count(&head), 3);
	int want = 1;
	for (list_node *n = list_first(&head); n != &head; n = n->next)
		assert_int_equal(value_at(n), want++);
	assert_int_equal(value_at(list_last(&head)), 3);
	want = 3;
	for (list_node *n = list_last(&head); n != &head; n = n->prev)
		assert_int_equal(value_at(n), want--);
}

static void test_remove_anywhere(void **state)
{
	(void)state;
	list_node head;
	list_init(&head);
	elem e[4] = {{1, {0}}, {2, {0}}, {3, {0}}, {4, {0}}};
	for (int i = 0; i < 4; i++)
		list_push_back(&head, &e[i].node);
	list_remove(&e[1].node); /* middle */
	list_remove(&e[0].node); /* first */
	list_remove(&e[3].node); /* last */
	assert_false(list_linked(&e[0].node));
	assert_true(list_linked(&e[2].node));
	assert_int_equal(list_count(&head), 1);
	assert_int_equal(value_at(list_first(&head)), 3);
	list_remove(&e[0].node); /* not in a list: a no-op */
	list_remove(&e[2].node);
	assert_true(list_empty(&head));
	assert_ptr_equal(list_first(&head), &head);
}

/* Removing the element a walk stands on, with next saved first, visits every element. */
static void test_remove_while_walking(void **state)
{
	(void)state;
	list_node head;
	list_init(&head);
	elem e[5];
	for (int i = 0; i < 5; i++) {
		e[i].value = i;
		list_push_back(&head, &e[i].node);
	}
	int seen = 0;
	for (list_node *n = list_first(&head), *next; n != &head; n = next) {
		next = n->next;
		if (value_at(n) % 2 == 0)
			list_remove(n);
		seen++;
	}
	assert_int_equal(seen, 5);
	assert_int_equal(list_count(&head), 2);
	assert_int_equal(value_at(list_first(&head)), 1);
	assert_int_equal(value_at(list_last(&head)), 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_push_keeps_order),
		cmocka_unit_test(test_remove_anywhere),
		cmocka_unit_test(test_remove_while_walking),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
