//! The parser: a recursive descent over the streaming [`Lexer`].
//!
//! It checks syntax and what the text alone decides (labels defined once, operands that name a
//! node, constant data that fits its type, attributes each op needs). It does not check
//! semantics: types are taken as written and nothing is inferred, so a text can describe an
//! invalid graph for [`crate::verify()`] to reject. Nodes are created in file order.

use std::collections::HashMap;

use super::attrs::{build_op, build_quant, Attrs, Pos, Value};
use super::lexer::{Lexer, Tok, Token};
use super::literal::parse_f32;
use crate::{DType, Graph, IrError, NodeId, Op, Tensor, TensorType};

/// Parse the text form back into a graph (see the [module docs](super) for the grammar).
///
/// Syntax errors are [`IrError::Parse`] with the 1-based line and column of the offending token.
pub fn parse(src: &str) -> Result<Graph, IrError> {
    let mut p = Parser {
        lex: Lexer::new(src),
        peeked: None,
    };
    p.file()
}

/// An operand as written: `n3`, `^n7`, or with an explicit slot `2: n3`.
struct Operand<'a> {
    slot: usize,
    recurrent: bool,
    label: &'a str,
    pos: Pos,
}

/// A node as written, before labels are resolved.
struct Parsed<'a> {
    name: String,
    op: Op,
    ty: Option<TensorType>,
    operands: Vec<Operand<'a>>,
}

struct Parser<'a> {
    lex: Lexer<'a>,
    peeked: Option<Token<'a>>,
}

fn pos(t: &Token<'_>) -> Pos {
    (t.line, t.col)
}

/// The element count of `shape`, or an error when it overflows.
fn checked_numel(shape: &[usize], at: &Token<'_>) -> Result<usize, IrError> {
    shape
        .iter()
        .try_fold(1usize, |a, d| a.checked_mul(*d))
        .ok_or_else(|| at.error(format!("shape {shape:?} has too many elements")))
}

impl<'a> Parser<'a> {
    fn peek(&mut self) -> Result<&Token<'a>, IrError> {
        let t = match self.peeked.take() {
            Some(t) => t,
            None => self.lex.next_token()?,
        };
        Ok(self.peeked.insert(t))
    }

    fn next(&mut self) -> Result<Token<'a>, IrError> {
        match self.peeked.take() {
            Some(t) => Ok(t),
            None => self.lex.next_token(),
        }
    }

    fn is_punct(&mut self, c: char) -> Result<bool, IrError> {
        Ok(self.peek()?.tok == Tok::Punct(c))
    }

    /// Consume `c` if it comes next.
    fn eat(&mut self, c: char) -> Result<bool, IrError> {
        if self.is_punct(c)? {
            self.next()?;
            return Ok(true);
        }
        Ok(false)
    }

    fn expect(&mut self, c: char, context: &str) -> Result<Token<'a>, IrError> {
        let t = self.next()?;
        if t.tok == Tok::Punct(c) {
            return Ok(t);
        }
        Err(t.error(format!("expected `{c}` {context}, found {}", t.describe())))
    }

    fn ident(&mut self, what: &str) -> Result<(&'a str, Token<'a>), IrError> {
        let t = self.next()?;
        match t.tok {
            Tok::Ident(s) => Ok((s, t)),
            _ => Err(t.error(format!("expected {what}, found {}", t.describe()))),
        }
    }

    fn string(&mut self, what: &str) -> Result<String, IrError> {
        let t = self.next()?;
        match t.tok {
            Tok::Str(s) => Ok(s),
            _ => Err(t.error(format!(
                "expected {what} (a quoted string), found {}",
                t.describe()
            ))),
        }
    }

    fn usize(&mut self, what: &str) -> Result<usize, IrError> {
        let t = self.next()?;
        match t.tok {
            Tok::Number(s) => s
                .parse::<usize>()
                .map_err(|_| t.error(format!("{what}: `{s}` is not a non-negative integer"))),
            _ => Err(t.error(format!("expected {what}, found {}", t.describe()))),
        }
    }

    fn file(&mut self) -> Result<Graph, IrError> {
        let t = self.next()?;
        if t.tok != Tok::Ident("graph") {
            return Err(t.error(format!("expected `graph`, found {}", t.describe())));
        }
        let name = self.string("the graph name")?;
        self.expect('{', "to open the graph body")?;
        let mut nodes = Vec::new();
        let mut labels: HashMap<&'a str, usize> = HashMap::new();
        loop {
            let t = self.peek()?;
            match t.tok {
                Tok::Punct('}') => break,
                Tok::Eof => {
                    return Err(t.error("unexpected end of input: the graph is not closed by `}`"))
                }
                _ => {}
            }
            let (label, lt) = self.ident("a node label such as `n0`")?;
            if labels.insert(label, nodes.len()).is_some() {
                return Err(lt.error(format!("node label `{label}` is defined twice")));
            }
            nodes.push(self.node()?);
        }
        self.next()?;
        let t = self.next()?;
        if t.tok != Tok::Eof {
            return Err(t.error(format!(
                "unexpected {} after the graph's closing `}}`",
                t.describe()
            )));
        }
        build(name, nodes, &labels)
    }

    /// A node after its label: `= op [index] [(operands)] [{attrs}] "name" [: type] [= data]`.
    fn node(&mut self) -> Result<Parsed<'a>, IrError> {
        self.expect('=', "after the node label")?;
        let (opname, ot) = self.ident("an op name")?;
        let index = match opname {
            "input" | "output" => Some(self.usize("the graph input/output index")?),
            _ => None,
        };
        let mut operands = Vec::new();
        if self.eat('(')? && !self.eat(')')? {
            loop {
                operands.push(self.operand(operands.len())?);
                if self.eat(')')? {
                    break;
                }
                self.expect(',', "between operands")?;
            }
        }
        let mut attrs = Attrs::new(opname, pos(&ot));
        if self.eat('{')? {
            self.attr_list(&mut attrs)?;
        }
        let name = self.string("the node name")?;
        let ty = if self.eat(':')? {
            Some(self.ty()?)
        } else {
            None
        };
        let op = match opname {
            "input" => Op::Input {
                index: index.unwrap_or_default(),
            },
            "output" => Op::Output {
                index: index.unwrap_or_default(),
            },
            "const" => {
                self.expect('=', "before the constant's data")?;
                Op::Const(self.const_data(ty.as_ref())?)
            }
            _ => build_op(opname, &mut attrs)?
                .ok_or_else(|| ot.error(format!("unknown op `{opname}`")))?,
        };
        attrs.finish()?;
        if !matches!(op, Op::Const(_)) && self.is_punct('=')? {
            let t = self.next()?;
            return Err(t.error("only `const` nodes are followed by `= data`"));
        }
        Ok(Parsed {
            name,
            op,
            ty,
            operands,
        })
    }

    fn operand(&mut self, position: usize) -> Result<Operand<'a>, IrError> {
        let mut t = self.next()?;
        let mut slot = position;
        if let Tok::Number(s) = t.tok {
            slot = s
                .parse::<usize>()
                .map_err(|_| t.error(format!("`{s}` is not an input slot")))?;
            self.expect(':', "after an explicit input slot")?;
            t = self.next()?;
        }
        let recurrent = t.tok == Tok::Punct('^');
        if recurrent {
            t = self.next()?;
        }
        match t.tok {
            Tok::Ident(label) => Ok(Operand {
                slot,
                recurrent,
                label,
                pos: pos(&t),
            }),
            _ => Err(t.error(format!(
                "expected an operand such as `n0` or `^n3`, found {}",
                t.describe()
            ))),
        }
    }

    /// `key = value, ...}` after the opening brace.
    fn attr_list(&mut self, attrs: &mut Attrs) -> Result<(), IrError> {
        if self.eat('}')? {
            return Ok(());
        }
        loop {
            let (key, kt) = self.ident("an attribute name")?;
            self.expect('=', "after the attribute name")?;
            let v = self.value()?;
            attrs.insert(key, pos(&kt), v)?;
            if self.eat('}')? {
                return Ok(());
            }
            self.expect(',', "between attributes")?;
        }
    }

    fn value(&mut self) -> Result<Value, IrError> {
        let t = self.next()?;
        match t.tok {
            Tok::Number(s) => Ok(Value::Atom(s.to_string())),
            Tok::Ident(s) => match s.parse::<DType>() {
                Ok(dtype) if self.is_punct('[')? => {
                    let shape = self.shape()?;
                    Ok(Value::Tensor(self.tensor_data(dtype, shape)?))
                }
                _ => Ok(Value::Atom(s.to_string())),
            },
            Tok::Punct('[') => {
                let mut items = Vec::new();
                if self.eat(']')? {
                    return Ok(Value::List(items));
                }
                loop {
                    let e = self.next()?;
                    match e.tok {
                        Tok::Number(s) | Tok::Ident(s) => items.push((s.to_string(), pos(&e))),
                        _ => {
                            return Err(
                                e.error(format!("expected a list element, found {}", e.describe()))
                            )
                        }
                    }
                    if self.eat(']')? {
                        return Ok(Value::List(items));
                    }
                    self.expect(',', "between list elements")?;
                }
            }
            _ => Err(t.error(format!(
                "expected an attribute value, found {}",
                t.describe()
            ))),
        }
    }

    /// `[d0,d1,...]`.
    fn shape(&mut self) -> Result<Vec<usize>, IrError> {
        self.expect('[', "to open the shape")?;
        let mut shape = Vec::new();
        if self.eat(']')? {
            return Ok(shape);
        }
        loop {
            shape.push(self.usize("a dimension")?);
            if self.eat(']')? {
                return Ok(shape);
            }
            self.expect(',', "between dimensions")?;
        }
    }

    /// `dtype[shape] [quant {...}]`.
    fn ty(&mut self) -> Result<TensorType, IrError> {
        let (d, t) = self.ident("an element type such as `f32`")?;
        let dtype = d.parse::<DType>().map_err(|e| t.error(e))?;
        let shape = self.shape()?;
        let mut ty = TensorType::new(dtype, shape);
        if self.peek()?.tok == Tok::Ident("quant") {
            let qt = self.next()?;
            self.expect('{', "after `quant`")?;
            let mut a = Attrs::new("quant", pos(&qt));
            self.attr_list(&mut a)?;
            ty.quant = Some(build_quant(&mut a)?);
            a.finish()?;
        }
        Ok(ty)
    }

    /// After `const ... =`: either data alone (the node's type gives dtype and shape) or a full
    /// tensor literal.
    fn const_data(&mut self, ty: Option<&TensorType>) -> Result<Tensor, IrError> {
        let t = self.peek()?.clone();
        match t.tok {
            Tok::Ident(d) if d != "elided" => {
                self.next()?;
                let dtype = d.parse::<DType>().map_err(|e| t.error(e))?;
                let shape = self.shape()?;
                self.tensor_data(dtype, shape)
            }
            _ => match ty {
                Some(ty) => self.tensor_data(ty.dtype, ty.shape.clone()),
                None => Err(t.error(
                    "a constant without a type spells its tensor type: `= f32[2] [1.0, 2.0]`",
                )),
            },
        }
    }

    /// `[e0, e1, ...]` holding exactly the shape's element count, row-major.
    fn tensor_data(&mut self, dtype: DType, shape: Vec<usize>) -> Result<Tensor, IrError> {
        let open = self.next()?;
        if open.tok == Tok::Ident("elided") {
            return Err(open.error("constant data elided; print with full data to round-trip"));
        }
        if open.tok != Tok::Punct('[') {
            return Err(open.error(format!(
                "expected `[` to start tensor data, found {}",
                open.describe()
            )));
        }
        let n = checked_numel(&shape, &open)?;
        // Every element takes at least two bytes of text: never reserve more than the text holds.
        let cap = n.min(self.lex.remaining() / 2 + 1);
        let tensor = match dtype.int_range() {
            None => {
                let mut v = Vec::with_capacity(cap);
                self.elements(|e| match e.tok {
                    Tok::Number(s) | Tok::Ident(s) => {
                        v.push(
                            parse_f32(s).ok_or_else(|| e.error(format!("`{s}` is not a float")))?,
                        );
                        Ok(())
                    }
                    _ => Err(e.error(format!("expected a number, found {}", e.describe()))),
                })?;
                check_count(v.len(), n, dtype, &shape, &open)?;
                Tensor::from_f32(shape, v)
            }
            Some((lo, hi)) => {
                let mut v = Vec::with_capacity(cap);
                self.elements(|e| match e.tok {
                    Tok::Number(s) => {
                        let x = s
                            .parse::<i64>()
                            .map_err(|_| e.error(format!("`{s}` is not an integer")))?;
                        // Bin holds only ±1: 0 lies inside its range but is not a value.
                        if x < lo || x > hi || (dtype == DType::Bin && x == 0) {
                            return Err(e.error(format!("{x} is out of range for {dtype}")));
                        }
                        v.push(x);
                        Ok(())
                    }
                    _ => Err(e.error(format!("expected an integer, found {}", e.describe()))),
                })?;
                check_count(v.len(), n, dtype, &shape, &open)?;
                Tensor::from_i64(dtype, shape, v)
            }
        };
        tensor.map_err(|e| open.error(e.to_string()))
    }

    /// Feed each element token to `each` until the closing `]`.
    fn elements(
        &mut self,
        mut each: impl FnMut(&Token<'a>) -> Result<(), IrError>,
    ) -> Result<(), IrError> {
        if self.eat(']')? {
            return Ok(());
        }
        loop {
            let e = self.next()?;
            each(&e)?;
            if self.eat(']')? {
                return Ok(());
            }
            self.expect(',', "between tensor elements")?;
        }
    }
}

fn check_count(
    got: usize,
    want: usize,
    dtype: DType,
    shape: &[usize],
    at: &Token<'_>,
) -> Result<(), IrError> {
    if got == want {
        return Ok(());
    }
    let ty = TensorType::new(dtype, shape.to_vec());
    Err(at.error(format!("{got} values given for {ty}, which holds {want}")))
}

/// Create the nodes in file order, then connect the operands (which may refer forward).
fn build(
    name: String,
    nodes: Vec<Parsed<'_>>,
    labels: &HashMap<&str, usize>,
) -> Result<Graph, IrError> {
    let mut g = Graph::new(name);
    let mut ids: Vec<NodeId> = Vec::with_capacity(nodes.len());
    let mut operands = Vec::with_capacity(nodes.len());
    for p in nodes {
        let id = match p.op {
            Op::Const(t) => g.add_const(p.name, t),
            op => g.add_node_untyped(p.name, op),
        };
        g.node_mut(id).ty = p.ty;
        ids.push(id);
        operands.push(p.operands);
    }
    for (dst, ops) in ids.iter().zip(operands) {
        for o in ops {
            let err = |reason: String| IrError::Parse {
                line: o.pos.0,
                col: o.pos.1,
                reason,
            };
            let src = labels
                .get(o.label)
                .and_then(|i| ids.get(*i))
                .ok_or_else(|| err(format!("no node is labelled `{}`", o.label)))?;
            g.connect(*src, *dst, o.slot, o.recurrent)
                .map_err(|e| err(e.to_string()))?;
        }
    }
    Ok(g)
}
