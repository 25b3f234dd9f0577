//! A pickle machine for the subset of Python's pickle that `torch.save` writes for a
//! state dict: containers, numbers, strings, the `OrderedDict` and tensor-rebuilding
//! callables it names, and persistent ids for storages. Nothing is ever executed: a
//! callable is only recognised by name, and any other one is refused by name.
//!
//! Lists and dicts are shared (`Rc<RefCell<..>>`) as in Python, so a value fetched from
//! the memo is the same object, never a copy: no input can make the machine duplicate
//! data (the "billion laughs" of nested references costs one pointer per reference).
//! Containers are torn down without recursion ([`Shared`]), and at most
//! [`MAX_CONTAINERS`] are made, so neither a million-deep nesting nor a flood of empty
//! containers can exhaust the stack or the memory.

use std::cell::RefCell;
use std::rc::Rc;

/// Why a pickle cannot be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("byte {offset} of the pickle: {message}")]
pub struct PickleError {
    pub offset: usize,
    pub message: String,
}

/// A storage named by a persistent id: `('storage', torch.XStorage, key, location, numel)`.
#[derive(Debug, Clone, PartialEq)]
pub struct StorageRef {
    /// torch's storage class name, e.g. `FloatStorage`.
    pub class: String,
    /// The archive member `data/KEY` holding its bytes.
    pub key: String,
    pub numel: u64,
}

/// A tensor as `torch._utils._rebuild_tensor_v2` would build it: a view of a storage.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorRef {
    pub storage: StorageRef,
    pub offset: u64,
    pub size: Vec<i64>,
    pub stride: Vec<i64>,
}

/// The most containers (tuples, lists, dicts) one pickle may make, and the most values
/// its stack and its memo may hold (each bounds memory to tens of MB); a torchvision
/// ResNet-50's state dict makes about 1,800 containers.
pub const MAX_CONTAINERS: usize = 1_000_000;

/// A container's contents, shared as Python shares them. When the last reference goes,
/// nested containers are emptied through a work list instead of by recursion, so dropping
/// a nesting of any depth cannot overflow the stack.
#[derive(Debug)]
pub struct Shared<T: Children>(RefCell<Vec<T>>);

impl<T: Children> Shared<T> {
    fn new(items: Vec<T>) -> Rc<Self> {
        Rc::new(Self(RefCell::new(items)))
    }

    /// The contents, to read.
    pub fn borrow(&self) -> std::cell::Ref<'_, Vec<T>> {
        self.0.borrow()
    }

    fn borrow_mut(&self) -> std::cell::RefMut<'_, Vec<T>> {
        self.0.borrow_mut()
    }
}

/// What a container holds: values, or a dict's key-value pairs.
pub trait Children {
    /// Moves the values in `self` onto `out`.
    fn release_into(self, out: &mut Vec<Value>);
}

impl Children for Value {
    fn release_into(self, out: &mut Vec<Value>) {
        out.push(self);
    }
}

impl Children for (Value, Value) {
    fn release_into(self, out: &mut Vec<Value>) {
        out.extend([self.0, self.1]);
    }
}

impl<T: Children> Drop for Shared<T> {
    fn drop(&mut self) {
        let mut work = Vec::new();
        for child in self.0.get_mut().drain(..) {
            child.release_into(&mut work);
        }
        while let Some(value) = work.pop() {
            value.empty_if_last(&mut work);
        }
    }
}

/// A value on the machine's stack.
#[derive(Debug, Clone)]
pub enum Value {
    None,
    /// Bytes: read past, never needed.
    Other(&'static str),
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Rc<str>),
    Tuple(Rc<Shared<Value>>),
    List(Rc<Shared<Value>>),
    /// A dict or `OrderedDict`, in insertion order.
    Dict(Rc<Shared<(Value, Value)>>),
    /// A class or function named by `GLOBAL` (module, name).
    Global(Rc<str>, Rc<str>),
    Storage(Rc<StorageRef>),
    Tensor(Rc<TensorRef>),
}

impl Value {
    /// Moves the contents of a container held only here onto `work` (the container is
    /// then dropped empty); a shared one only loses this reference.
    fn empty_if_last(self, work: &mut Vec<Value>) {
        fn take<T: Children>(rc: &Rc<Shared<T>>, work: &mut Vec<Value>) {
            if Rc::strong_count(rc) == 1 {
                for child in rc.borrow_mut().drain(..) {
                    child.release_into(work);
                }
            }
        }
        match &self {
            Value::Tuple(rc) | Value::List(rc) => take(rc, work),
            Value::Dict(rc) => take(rc, work),
            _ => {}
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Value::None => "None",
            Value::Other(kind) => kind,
            Value::Bool(_) => "a bool",
            Value::Int(_) => "an int",
            Value::Float(_) => "a float",
            Value::Str(_) => "a string",
            Value::Tuple(_) => "a tuple",
            Value::List(_) => "a list",
            Value::Dict(_) => "a dict",
            Value::Global(..) => "a class",
            Value::Storage(_) => "a storage",
            Value::Tensor(_) => "a tensor",
        }
    }

    /// A short description for error messages.
    pub fn describe(&self) -> String {
        match self {
            Value::Global(m, n) => format!("the class {m}.{n}"),
            other => other.kind().to_owned(),
        }
    }
}

/// The storage classes a persistent id may name.
pub const STORAGE_CLASSES: [&str; 10] = [
    "FloatStorage",
    "DoubleStorage",
    "HalfStorage",
    "BFloat16Storage",
    "LongStorage",
    "IntStorage",
    "ShortStorage",
    "CharStorage",
    "ByteStorage",
    "BoolStorage",
];

struct Machine<'a> {
    data: &'a [u8],
    pos: usize,
    stack: Vec<Value>,
    marks: Vec<usize>,
    memo: std::collections::HashMap<u32, Value>,
    containers: usize,
}

/// Runs the pickle `data` to its `STOP` and returns the value it leaves.
pub fn load(data: &[u8]) -> Result<Value, PickleError> {
    let mut machine = Machine {
        data,
        pos: 0,
        stack: Vec::new(),
        marks: Vec::new(),
        memo: std::collections::HashMap::new(),
        containers: 0,
    };
    loop {
        let at = machine.pos;
        let op = machine.byte()?;
        if op == b'.' {
            return machine.pop();
        }
        machine.op(op).map_err(|e| PickleError {
            offset: at,
            message: e,
        })?;
    }
}

type Step = Result<(), String>;

impl Machine<'_> {
    fn byte(&mut self) -> Result<u8, PickleError> {
        let b = self.data.get(self.pos).copied().ok_or(PickleError {
            offset: self.pos,
            message: "the pickle ends early (no STOP)".into(),
        })?;
        self.pos += 1;
        Ok(b)
    }

    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.data.len())
            .ok_or("the pickle ends early (no STOP)")?;
        let bytes = &self.data[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }

    fn le(&mut self, n: usize) -> Result<u64, String> {
        let bytes = self.take(n)?;
        Ok(bytes
            .iter()
            .rev()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
    }

    fn line(&mut self) -> Result<String, String> {
        let rest = &self.data[self.pos..];
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or("a GLOBAL name without its newline")?;
        let text = std::str::from_utf8(&rest[..end]).map_err(|_| "a GLOBAL name is not UTF-8")?;
        self.pos += end + 1;
        Ok(text.to_owned())
    }

    fn pop(&mut self) -> Result<Value, PickleError> {
        self.stack.pop().ok_or(PickleError {
            offset: self.pos,
            message: "the stack is empty".into(),
        })
    }

    fn pop_value(&mut self) -> Result<Value, String> {
        self.stack.pop().ok_or_else(|| "the stack is empty".into())
    }

    /// Everything pushed since the last MARK, which is removed.
    fn pop_mark(&mut self) -> Result<Vec<Value>, String> {
        let mark = self.marks.pop().ok_or("no MARK to pop to")?;
        if mark > self.stack.len() {
            return Err("the stack shrank below its MARK".into());
        }
        Ok(self.stack.split_off(mark))
    }

    fn string(&mut self, len_bytes: usize) -> Step {
        let n = usize::try_from(self.le(len_bytes)?).map_err(|_| "a string too long")?;
        let bytes = self.take(n)?;
        let text: Rc<str> = std::str::from_utf8(bytes)
            .map_err(|_| "a string that is not UTF-8")?
            .into();
        self.push(Value::Str(text))
    }

    fn bytes(&mut self, len_bytes: usize) -> Step {
        let n = usize::try_from(self.le(len_bytes)?).map_err(|_| "bytes too long")?;
        self.take(n)?;
        self.push(Value::Other("bytes"))
    }

    fn memo_put(&mut self, key: u32) -> Step {
        let top = self.stack.last().ok_or("nothing to memoise")?.clone();
        if self.memo.len() >= MAX_CONTAINERS && !self.memo.contains_key(&key) {
            return Err(format!("more than {MAX_CONTAINERS} memo entries"));
        }
        self.memo.insert(key, top);
        Ok(())
    }

    fn memo_get(&mut self, key: u32) -> Step {
        let value = self
            .memo
            .get(&key)
            .ok_or_else(|| format!("memo entry {key} was never stored"))?
            .clone();
        self.push(value)
    }

    fn top_mut(&mut self) -> Result<&mut Value, String> {
        self.stack
            .last_mut()
            .ok_or_else(|| "the stack is empty".into())
    }

    fn set_items(&mut self, items: Vec<Value>) -> Step {
        if !items.len().is_multiple_of(2) {
            return Err("SETITEMS with an odd number of values".into());
        }
        let Value::Dict(dict) = self.top_mut()? else {
            return Err("SETITEM on something that is not a dict".into());
        };
        let dict = dict.clone();
        let mut entries = dict.borrow_mut();
        let mut items = items.into_iter();
        while let (Some(k), Some(v)) = (items.next(), items.next()) {
            entries.push((k, v));
        }
        Ok(())
    }

    fn append(&mut self, items: Vec<Value>) -> Step {
        let Value::List(list) = self.top_mut()? else {
            return Err("APPEND on something that is not a list".into());
        };
        list.clone().borrow_mut().extend(items);
        Ok(())
    }

    fn tuple(&mut self, n: usize) -> Step {
        if self.stack.len() < n {
            return Err("the stack is too short for a tuple".into());
        }
        let items = self.stack.split_off(self.stack.len() - n);
        self.push_new(Value::Tuple(Shared::new(items)))
    }

    /// Runs one opcode, dispatched by what it works on.
    fn op(&mut self, op: u8) -> Step {
        match op {
            0x80 => self.take(1).map(drop), // PROTO
            0x95 => self.take(8).map(drop), // FRAME
            b'(' | b')' | 0x85 | 0x86 | 0x87 | b't' => self.tuple_op(op),
            b']' | b'l' | b'a' | b'e' | 0x8f | 0x90 => self.list_op(op),
            b'}' | b'd' | b's' | b'u' => self.dict_op(op),
            b'N' | 0x88 | 0x89 | b'K' | b'M' | b'J' | 0x8a | b'G' => self.number_op(op),
            b'X' | 0x8c | 0x8d | b'B' | b'C' | 0x8e => self.text_op(op),
            b'q' | b'r' | 0x94 | b'h' | b'j' => self.memo_op(op),
            b'c' | 0x93 | b'Q' | b'R' | 0x81 | b'b' => self.object_op(op),
            other => Err(unsupported(other)),
        }
    }

    /// MARK, and the tuples: EMPTY_TUPLE, TUPLE1/2/3, TUPLE (down to the mark).
    fn tuple_op(&mut self, op: u8) -> Step {
        match op {
            b'(' => {
                self.marks.push(self.stack.len());
                Ok(())
            }
            b')' => self.tuple(0),
            0x85 => self.tuple(1),
            0x86 => self.tuple(2),
            0x87 => self.tuple(3),
            b't' => {
                let items = self.pop_mark()?;
                self.push_new(Value::Tuple(Shared::new(items)))
            }
            other => Err(unsupported(other)),
        }
    }

    /// EMPTY_LIST, LIST, APPEND, APPENDS, and sets (EMPTY_SET, ADDITEMS) read as lists.
    fn list_op(&mut self, op: u8) -> Step {
        match op {
            b']' | 0x8f => self.push_new(Value::List(Shared::new(Vec::new()))),
            b'l' => {
                let items = self.pop_mark()?;
                self.push_new(Value::List(Shared::new(items)))
            }
            b'a' => {
                let item = self.pop_value()?;
                self.append(vec![item])
            }
            b'e' | 0x90 => {
                let items = self.pop_mark()?;
                self.append(items)
            }
            other => Err(unsupported(other)),
        }
    }

    /// EMPTY_DICT, DICT, SETITEM, SETITEMS.
    fn dict_op(&mut self, op: u8) -> Step {
        match op {
            b'}' => self.push_new(Value::Dict(Shared::new(Vec::new()))),
            b'd' => {
                let items = self.pop_mark()?;
                self.push_new(Value::Dict(Shared::new(Vec::new())))?;
                self.set_items(items)
            }
            b's' => {
                let value = self.pop_value()?;
                let key = self.pop_value()?;
                self.set_items(vec![key, value])
            }
            b'u' => {
                let items = self.pop_mark()?;
                self.set_items(items)
            }
            other => Err(unsupported(other)),
        }
    }

    /// NONE, the bools, the integers (BININT1/2, BININT, LONG1) and BINFLOAT.
    fn number_op(&mut self, op: u8) -> Step {
        let value = match op {
            b'N' => Value::None,
            0x88 => Value::Bool(true),
            0x89 => Value::Bool(false),
            b'K' => Value::Int(self.le(1)? as i64),
            b'M' => Value::Int(self.le(2)? as i64),
            b'J' => Value::Int(i64::from(self.le(4)? as u32 as i32)),
            0x8a => return self.long1(),
            b'G' => {
                let big_endian = self.le(8)?.swap_bytes();
                Value::Float(f64::from_bits(big_endian))
            }
            other => return Err(unsupported(other)),
        };
        self.push(value)
    }

    /// The strings (BINUNICODE, SHORT_BINUNICODE, BINUNICODE8) and the bytes.
    fn text_op(&mut self, op: u8) -> Step {
        match op {
            b'X' => self.string(4),
            0x8c => self.string(1),
            0x8d => self.string(8),
            b'B' => self.bytes(4),
            b'C' => self.bytes(1),
            0x8e => self.bytes(8),
            other => Err(unsupported(other)),
        }
    }

    /// BINPUT, LONG_BINPUT, MEMOIZE, BINGET, LONG_BINGET.
    fn memo_op(&mut self, op: u8) -> Step {
        match op {
            b'q' => {
                let key = self.le(1)? as u32;
                self.memo_put(key)
            }
            b'r' => {
                let key = self.le(4)? as u32;
                self.memo_put(key)
            }
            0x94 => {
                let key = u32::try_from(self.memo.len()).map_err(|_| "memo too large")?;
                self.memo_put(key)
            }
            b'h' => {
                let key = self.le(1)? as u32;
                self.memo_get(key)
            }
            b'j' => {
                let key = self.le(4)? as u32;
                self.memo_get(key)
            }
            other => Err(unsupported(other)),
        }
    }

    /// GLOBAL, STACK_GLOBAL, BINPERSID (a tensor's storage), REDUCE, NEWOBJ and BUILD.
    fn object_op(&mut self, op: u8) -> Step {
        match op {
            b'c' => {
                let module = self.line()?;
                let name = self.line()?;
                self.push(Value::Global(module.into(), name.into()))
            }
            0x93 => {
                let name = self.pop_value()?;
                let module = self.pop_value()?;
                match (module, name) {
                    (Value::Str(m), Value::Str(n)) => self.push(Value::Global(m, n)),
                    _ => Err("STACK_GLOBAL without two strings".into()),
                }
            }
            b'Q' => {
                let id = self.pop_value()?;
                let storage = persistent_storage(&id)?;
                self.push(Value::Storage(Rc::new(storage)))
            }
            b'R' | 0x81 => {
                let args = self.pop_value()?;
                let callable = self.pop_value()?;
                let value = reduce(&callable, &args)?;
                self.push(value)
            }
            b'b' => {
                // BUILD: the state of an OrderedDict (its `_metadata`) or of an object; a
                // state dict's tensors do not depend on it.
                self.pop_value()?;
                self.stack.last().ok_or("BUILD on an empty stack")?;
                Ok(())
            }
            other => Err(unsupported(other)),
        }
    }

    fn push(&mut self, value: Value) -> Step {
        if self.stack.len() >= MAX_CONTAINERS {
            return Err(format!("more than {MAX_CONTAINERS} values on the stack"));
        }
        self.stack.push(value);
        Ok(())
    }

    /// Pushes a container just made, counting it against [`MAX_CONTAINERS`].
    fn push_new(&mut self, container: Value) -> Step {
        self.containers += 1;
        if self.containers > MAX_CONTAINERS {
            return Err(format!(
                "more than {MAX_CONTAINERS} tuples, lists and dicts; a state dict needs a few thousand"
            ));
        }
        self.push(container)
    }

    fn long1(&mut self) -> Step {
        let n = self.le(1)? as usize;
        let bytes = self.take(n)?;
        if n > 8 {
            return Err("an integer wider than 64 bits".into());
        }
        let negative = bytes.last().is_some_and(|&b| b & 0x80 != 0);
        let mut buf = if negative { [0xff; 8] } else { [0; 8] };
        buf[..n].copy_from_slice(bytes);
        self.push(Value::Int(i64::from_le_bytes(buf)))
    }
}

fn unsupported(op: u8) -> String {
    format!("pickle opcode 0x{op:02x} is not one torch.save writes for a state dict")
}

fn as_int(value: &Value, what: &str) -> Result<i64, String> {
    match value {
        Value::Int(i) => Ok(*i),
        other => Err(format!("{what} is {}, not an int", other.describe())),
    }
}

fn as_ints(value: &Value, what: &str) -> Result<Vec<i64>, String> {
    match value {
        Value::Tuple(items) => items.borrow().iter().map(|v| as_int(v, what)).collect(),
        other => Err(format!("{what} is {}, not a tuple", other.describe())),
    }
}

/// A storage from its persistent id.
fn persistent_storage(id: &Value) -> Result<StorageRef, String> {
    let Value::Tuple(items) = id else {
        return Err(format!("a persistent id that is {}", id.describe()));
    };
    let items = items.borrow();
    let [
        Value::Str(tag),
        Value::Global(module, class),
        Value::Str(key),
        _location,
        numel,
    ] = &items[..]
    else {
        return Err("a persistent id that is not ('storage', type, key, location, numel)".into());
    };
    if &**tag != "storage" || &**module != "torch" || !STORAGE_CLASSES.contains(&&**class) {
        return Err(format!(
            "a persistent id for {tag:?} of {module}.{class}, not a tensor storage"
        ));
    }
    let numel = u64::try_from(as_int(numel, "a storage's size")?)
        .map_err(|_| "a storage of negative size")?;
    Ok(StorageRef {
        class: class.to_string(),
        key: key.to_string(),
        numel,
    })
}

/// What calling `callable(*args)` gives, for the callables a state dict names.
fn reduce(callable: &Value, args: &Value) -> Result<Value, String> {
    let Value::Global(module, name) = callable else {
        return Err(format!("REDUCE calls {}", callable.describe()));
    };
    let Value::Tuple(args) = args else {
        return Err(format!(
            "REDUCE of {module}.{name} without an argument tuple"
        ));
    };
    let args = &args.borrow()[..];
    match (&**module, &**name) {
        ("collections", "OrderedDict") if args.is_empty() => {
            Ok(Value::Dict(Shared::new(Vec::new())))
        }
        ("torch._utils", "_rebuild_tensor_v2") => rebuild_tensor(args),
        ("torch._utils", "_rebuild_parameter") => match args.first() {
            Some(tensor @ Value::Tensor(_)) => Ok(tensor.clone()),
            _ => Err("_rebuild_parameter without a tensor".into()),
        },
        _ => Err(format!(
            "the file calls {module}.{name}, which a torch.save of a state dict never does; refusing it"
        )),
    }
}

/// `_rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, hooks, ...)`.
fn rebuild_tensor(args: &[Value]) -> Result<Value, String> {
    let [Value::Storage(storage), offset, size, stride, ..] = args else {
        return Err("_rebuild_tensor_v2 without (storage, offset, size, stride)".into());
    };
    let offset = u64::try_from(as_int(offset, "a tensor's storage offset")?)
        .map_err(|_| "a negative storage offset")?;
    let size = as_ints(size, "a tensor's size")?;
    let stride = as_ints(stride, "a tensor's stride")?;
    if size.len() != stride.len() {
        return Err("a tensor whose size and stride differ in length".into());
    }
    Ok(Value::Tensor(Rc::new(TensorRef {
        storage: (**storage).clone(),
        offset,
        size,
        stride,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pickle of lists nested `depth` deep, each appended into the next through the
    /// memo.
    fn nested_lists(depth: usize) -> Vec<u8> {
        let mut data = vec![0x80, 2, b']', b'q', 0];
        for _ in 0..depth {
            data.extend_from_slice(&[b']', b'h', 0, b'a', b'q', 0]);
        }
        data.extend_from_slice(&[b'h', 0, b'.']);
        data
    }

    #[test]
    fn a_nesting_900_000_deep_is_read_and_dropped_without_recursion() {
        let data = nested_lists(900_000);
        // A 256 KiB stack: dropping the nesting recursively would need hundreds of MiB.
        let read = std::thread::Builder::new()
            .stack_size(256 << 10)
            .spawn(move || load(&data).map(|v| v.describe()))
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(read, Ok("a list".to_owned()));
    }

    #[test]
    fn a_flood_of_containers_is_refused_by_count() {
        let mut data = vec![0x80, 2];
        data.extend(std::iter::repeat_n(b']', MAX_CONTAINERS + 1));
        data.push(b'.');
        let err = load(&data).unwrap_err();
        assert!(err.message.contains("more than 1000000"), "{err}");
    }
}
