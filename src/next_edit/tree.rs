//! How the next-edit rules (and `quill eval-edits`, which builds its cases from the same
//! trees) read a syntax tree in any grammar: names, members, keyword-argument names, and
//! walks over nodes. Node kinds differ between grammars; these go by the words they share
//! (`identifier`, `attribute`/`member`/`field_expression`, `keyword_argument`).

use tree_sitter::Node;

/// A name leaf of the grammar (keywords, strings and comments are not).
pub fn is_name(n: Node<'_>) -> bool {
    let k = n.kind();
    n.is_named()
        && n.child_count() == 0
        && (k.ends_with("identifier") || k.ends_with("name") || k == "constant")
}

/// The object's text when `n` is a member (`obj.n`, `obj->n`, `obj::n`).
pub fn member_object<'a>(n: Node<'_>, text: &'a str) -> Option<&'a str> {
    let p = n.parent()?;
    let pk = p.kind();
    let member = [
        "attribute",
        "member",
        "field_expression",
        "selector",
        "navigation",
    ]
    .iter()
    .any(|m| pk.contains(m));
    let first = p.named_child(0)?;
    (member && first.id() != n.id()).then(|| &text[first.byte_range()])
}

/// True when `n` is a keyword argument's name (`f(count=count)`: the callee's parameter,
/// not a name of this scope).
pub fn is_keyword_name(n: Node<'_>) -> bool {
    n.parent().is_some_and(|p| {
        p.kind().contains("keyword_argument")
            && p.child_by_field_name("name")
                .is_some_and(|m| m.id() == n.id())
    })
}

/// True when the name at `range` is a shorthand field (`Point { x, y }`, `{ x }`): renaming
/// it keeps the field (`x: new`).
pub fn is_shorthand(root: Node<'_>, range: &std::ops::Range<usize>) -> bool {
    root.named_descendant_for_byte_range(range.start, range.end)
        .and_then(|n| n.parent())
        .is_some_and(|p| p.kind().contains("shorthand"))
}

/// The named children of `n` that are not comments (parameters, arguments).
pub fn named_children(n: Node<'_>) -> Vec<Node<'_>> {
    let mut c = n.walk();
    n.named_children(&mut c)
        .filter(|x| !x.kind().contains("comment"))
        .collect()
}

/// Calls `f` on every node under `node` (itself included), parents before children, in
/// document order.
pub fn for_each_node<'t>(node: Node<'t>, f: &mut impl FnMut(Node<'t>)) {
    walk(node, &mut |n, _| f(n));
}

/// Calls `f` on every leaf under `node`, in document order.
pub fn for_each_leaf<'t>(node: Node<'t>, f: &mut impl FnMut(Node<'t>)) {
    walk(node, &mut |n, leaf| {
        if leaf {
            f(n)
        }
    });
}

fn walk<'t>(node: Node<'t>, f: &mut impl FnMut(Node<'t>, bool)) {
    let mut cursor = node.walk();
    loop {
        let n = cursor.node();
        let has_children = cursor.goto_first_child();
        f(n, !has_children);
        if has_children {
            continue;
        }
        // Up until a next sibling, never past `node`.
        loop {
            if cursor.node().id() == node.id() {
                return;
            }
            if cursor.goto_next_sibling() {
                break;
            }
            if !cursor.goto_parent() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lang::Language;

    #[test]
    fn walks_visit_every_node_once_in_order() {
        let text = "def f(a, b=1):\n    return g(a, k=b).x\n";
        let tree = crate::syntax::parse(Language::Python, text, None).unwrap();
        let mut leaves = Vec::new();
        for_each_leaf(tree.root_node(), &mut |n| {
            leaves.push(&text[n.byte_range()])
        });
        assert_eq!(
            leaves,
            [
                "def", "f", "(", "a", ",", "b", "=", "1", ")", ":", "return", "g", "(", "a", ",",
                "k", "=", "b", ")", ".", "x"
            ]
        );
        let mut all = 0;
        for_each_node(tree.root_node(), &mut |_| all += 1);
        assert!(all > leaves.len());
        // A walk from an inner node stays inside it.
        let call = tree
            .root_node()
            .named_descendant_for_byte_range(27, 28)
            .unwrap()
            .parent()
            .unwrap();
        let mut inner = Vec::new();
        for_each_leaf(call, &mut |n| inner.push(&text[n.byte_range()]));
        assert_eq!(inner.first(), Some(&"g"));
        assert!(!inner.contains(&"x"), "{inner:?}");
        let mut names = Vec::new();
        for_each_leaf(tree.root_node(), &mut |n| {
            if is_name(n) {
                names.push((
                    &text[n.byte_range()],
                    member_object(n, text),
                    is_keyword_name(n),
                ));
            }
        });
        assert!(
            names.contains(&("x", Some("g(a, k=b)"), false)),
            "{names:?}"
        );
        assert!(names.contains(&("k", None, true)), "{names:?}");
    }
}
