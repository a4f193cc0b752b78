//! `graph::Notation`, the readable form of nodes, edges and types, as a specification:
//! every operation's text, names taken from the node's surroundings, and the fallbacks
//! a broken program (missing ids, a type that contains itself) still prints with.

use lmlang_storage::graph::{Entity, ProgramDocument, ProgramGraph, TypeEntry};
use lmlang_storage::model::*;

fn program() -> (ProgramGraph, FunctionId, TypeId, TypeId) {
    let mut g = ProgramGraph::new("app");
    let shapes = g.add_module(ModuleId::ROOT, "shapes", Visibility::Public).unwrap();
    let point = g
        .register_named_in(
            shapes,
            Visibility::Public,
            "Point",
            LmType::Struct(StructDef {
                name: String::new(),
                type_id: TypeId(0),
                fields: [("x".to_string(), TypeId::F64), ("y".to_string(), TypeId::F64)].into_iter().collect(),
                module: shapes,
                visibility: Visibility::Public,
            }),
        )
        .unwrap();
    let shape = g
        .register_named_in(
            shapes,
            Visibility::Public,
            "Shape",
            LmType::Enum(EnumDef {
                name: String::new(),
                type_id: TypeId(0),
                variants: [
                    ("Dot".to_string(), EnumVariant { index: 0, payload: Some(point) }),
                    ("Empty".to_string(), EnumVariant { index: 1, payload: None }),
                ]
                .into_iter()
                .collect(),
                module: shapes,
                visibility: Visibility::Public,
            }),
        )
        .unwrap();
    let f = g.add_function(shapes, "area", Visibility::Public, vec![("p".into(), point)], TypeId::F64).unwrap();
    (g, f, point, shape)
}

#[test]
fn every_operation_has_a_short_text() {
    let (g, f, point, shape) = program();
    let text = g.notation();
    let core = |op: ComputeOp| text.op(&op.into());
    let structured = |op: StructuredOp| text.op(&op.into());
    use ComputeOp::*;
    let cases: Vec<(String, &str)> = vec![
        (core(Const { value: ConstValue::Bool(true) }), "const bool true"),
        (core(Const { value: ConstValue::I8(-8) }), "const i8 -8"),
        (core(Const { value: ConstValue::I16(16) }), "const i16 16"),
        (core(Const { value: ConstValue::I32(32) }), "const i32 32"),
        (core(Const { value: ConstValue::I64(-64) }), "const i64 -64"),
        (core(Const { value: ConstValue::F32(0.1) }), "const f32 0.1"),
        (core(Const { value: ConstValue::F64(2.0) }), "const f64 2.0"),
        (core(Const { value: ConstValue::F64(-0.0) }), "const f64 -0.0"),
        (core(Const { value: ConstValue::F64(f64::NEG_INFINITY) }), "const f64 -inf"),
        (core(Const { value: ConstValue::F64(f64::NAN) }), "const f64 NaN"),
        (
            core(Const { value: ConstValue::F64(f64::from_bits(0x7ff8_0000_0000_0001)) }),
            "const f64 NaN:0x7ff8000000000001",
        ),
        (core(Const { value: ConstValue::F32(f32::INFINITY) }), "const f32 inf"),
        (core(Const { value: ConstValue::Unit }), "const unit"),
        (core(Parameter { index: 0 }), "param 0"),
        (core(BinaryArith { op: ArithOp::Rem }), "rem"),
        (core(UnaryArith { op: UnaryArithOp::Abs }), "abs"),
        (core(Compare { op: CmpOp::Ge }), "cmp ge"),
        (core(BinaryLogic { op: LogicOp::Xor }), "xor"),
        (core(Not), "not"),
        (core(Shift { op: ShiftOp::ShrArith }), "shr_arith"),
        (core(IfElse), "if_else"),
        (core(Loop), "loop"),
        (core(Match), "match"),
        (core(Branch), "branch"),
        (core(Jump), "jump"),
        (core(Phi), "phi"),
        (core(Alloc), "alloc"),
        (core(Load), "load"),
        (core(Store), "store"),
        (core(GetElementPtr), "get_element_ptr"),
        (core(Call { target: f }), "call app::shapes::area"),
        (core(Call { target: FunctionId(99) }), "call f99"),
        (core(IndirectCall), "indirect_call"),
        (core(Return), "return"),
        (core(Print), "print"),
        (core(ReadLine), "read_line"),
        (core(FileOpen), "file_open"),
        (core(FileRead), "file_read"),
        (core(FileWrite), "file_write"),
        (core(FileClose), "file_close"),
        (core(MakeClosure { function: f }), "make_closure app::shapes::area"),
        (core(CaptureAccess { index: 1 }), "capture 1"),
        (core(Precondition { message: "p.x >= 0".into() }), "precondition \"p.x >= 0\""),
        (core(Postcondition { message: "say \"hi\"".into() }), "postcondition \"say \\\"hi\\\"\""),
        (core(Invariant { target_type: point, message: "finite".into() }), "invariant app::shapes::Point \"finite\""),
        (structured(StructuredOp::StructCreate { type_id: point }), "struct_create app::shapes::Point"),
        (structured(StructuredOp::StructGet { field_index: 1 }), "struct_get 1"),
        (structured(StructuredOp::StructSet { field_index: 0 }), "struct_set 0"),
        (structured(StructuredOp::ArrayCreate { length: 3 }), "array_create 3"),
        (structured(StructuredOp::ArrayGet), "array_get"),
        (structured(StructuredOp::ArraySet), "array_set"),
        (structured(StructuredOp::Cast { target_type: TypeId::I32 }), "cast i32"),
        (
            structured(StructuredOp::EnumCreate { type_id: shape, variant_index: 1 }),
            "enum_create app::shapes::Shape::Empty",
        ),
        (structured(StructuredOp::EnumCreate { type_id: shape, variant_index: 7 }), "enum_create app::shapes::Shape 7"),
        (structured(StructuredOp::EnumDiscriminant), "enum_discriminant"),
        (structured(StructuredOp::EnumPayload { variant_index: 0 }), "enum_payload 0"),
    ];
    for (got, want) in &cases {
        assert_eq!(got, want);
    }
}

#[test]
fn a_node_is_named_from_its_surroundings() {
    let (mut g, f, point, shape) = program();
    let p = g.add_core_op(f, ComputeOp::Parameter { index: 0 }).unwrap();
    let get = g.add_structured_op(f, StructuredOp::StructGet { field_index: 1 }).unwrap();
    let e = g.add_data_edge(p, get, 0, 0, point).unwrap();
    let wrap = g.add_structured_op(f, StructuredOp::EnumCreate { type_id: shape, variant_index: 0 }).unwrap();
    let payload = g.add_structured_op(f, StructuredOp::EnumPayload { variant_index: 0 }).unwrap();
    g.add_data_edge(wrap, payload, 0, 0, shape).unwrap();
    let branch = g.add_core_op(f, ComputeOp::IfElse).unwrap();
    let c = g.add_control_edge(branch, get, Some(1)).unwrap();

    let text = g.notation();
    assert_eq!(text.node(p), format!("{p}  param 0 p: app::shapes::Point"));
    assert_eq!(text.node(get), format!("{get}  struct_get 1 .y"));
    assert_eq!(text.node_op(payload), "enum_payload 0 Dot");
    assert_eq!(text.edge(&g.edge(e).unwrap()), format!("{p}:0 -> {get}:0  app::shapes::Point"));
    assert_eq!(text.edge(&g.edge(c).unwrap()), format!("{branch} -> {get}  branch 1"));
    assert_eq!(text.function_name(f), "app::shapes::area");
    assert_eq!(text.signature(f), "(p: app::shapes::Point) -> f64");
    assert_eq!(text.entity(Entity::Node(get)), format!("node {get} (struct_get 1 .y)"));
    assert_eq!(text.entity(Entity::Function(f)), "function app::shapes::area");
    assert_eq!(text.entity(Entity::Node(NodeId(999))), "node n999", "a missing node keeps its bare id");
}

#[test]
fn anonymous_types_are_spelled_out_and_broken_ones_still_print() {
    let (mut g, _, point, _) = program();
    let array = g.register_type(LmType::Array { element: point, length: 4 }).unwrap();
    let ptr = g.register_type(LmType::Pointer { pointee: array, mutable: true }).unwrap();
    let func =
        g.register_type(LmType::Function { params: vec![TypeId::I64, ptr], return_type: TypeId::NEVER }).unwrap();
    let text = g.notation();
    assert_eq!(text.type_name(func), "fn(i64, *mut [app::shapes::Point; 4]) -> never");
    assert_eq!(text.type_name(TypeId(4242)), "t4242");

    // A hand-edited document whose array contains itself: cut short, not a stack overflow.
    let mut doc: ProgramDocument = ProgramGraph::new("app").to_document();
    let looped = TypeId(9);
    doc.types.push(TypeEntry { id: looped, name: None, ty: LmType::Array { element: looped, length: 1 } });
    doc.next_ids.type_ = 10;
    let broken = ProgramGraph::assemble(doc);
    let name = broken.notation().type_name(looped);
    assert!(name.starts_with("[[") && name.contains("..."), "{name}");
}

/// Anonymous types share their parts: five levels of function types, each taking the
/// one below twelve times, spell out 12^5 `i64`s in full. The name is cut short with
/// `...` after a few hundred characters, and what it shows is the real name's start.
#[test]
fn a_type_whose_parts_are_shared_gets_a_short_name() {
    let mut g = ProgramGraph::new("app");
    let mut t = TypeId::I64;
    for _ in 0..5 {
        t = g.register_type(LmType::Function { params: vec![t; 12], return_type: t }).unwrap();
    }
    let name = g.notation().type_name(t);
    assert!(name.len() <= 512, "{} bytes: {name}", name.len());
    assert!(name.starts_with("fn(fn(fn(fn(fn(i64, i64, i64"), "{name}");
    assert!(name.contains("..."), "{name}");
}

/// A module nested thousands deep: names in it keep their innermost modules and are
/// cut at the front, so each costs a few hundred characters, not the whole chain.
#[test]
fn a_name_in_a_deeply_nested_module_is_cut_at_the_front() {
    let mut g = ProgramGraph::new("app");
    let mut m = ModuleId::ROOT;
    for k in 0..2000 {
        m = g.add_module(m, &format!("m{k}"), Visibility::Public).unwrap();
    }
    let f = g.add_function(m, "deep", Visibility::Public, vec![], TypeId::I32).unwrap();
    let text = g.notation();
    let name = text.function_name(f);
    assert!(name.len() <= 512, "{} bytes: {name}", name.len());
    assert!(name.starts_with("...::") && name.ends_with("::m1998::m1999::deep"), "{name}");
    let module = text.entity(Entity::Module(m));
    assert!(module.len() <= 512 && module.ends_with("::m1999"), "{module}");
}
