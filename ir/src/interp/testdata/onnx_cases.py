"""Generate onnx_cases.txt: Conv, MaxPool, AveragePool, Gemm and MatMul cases evaluated by
onnxruntime (CPU, graph optimisations off, opset 19), read by ir/src/interp/onnx_cases.rs.

Inputs are small integers, so every sum of products is exact in f32 and the reference
interpreter must agree bit for bit whatever the accumulation order. Deterministic (seeded).
Run: python3 onnx_cases.py > onnx_cases.txt
"""
import numpy as np, onnx, onnxruntime as ort
from onnx import helper, TensorProto, numpy_helper
rng=np.random.default_rng(1)
so=ort.SessionOptions(); so.graph_optimization_level=ort.GraphOptimizationLevel.ORT_DISABLE_ALL
def run(op, inputs, **kw):
    names=[f'i{k}' for k in range(len(inputs))]
    node=helper.make_node(op,names,['y'],**kw)
    g=helper.make_graph([node],'g',[helper.make_tensor_value_info(n,TensorProto.FLOAT,a.shape) for n,a in zip(names,inputs)],[helper.make_tensor_value_info('y',TensorProto.FLOAT,None)])
    m=helper.make_model(g,opset_imports=[helper.make_opsetid('',19)])
    return ort.InferenceSession(m.SerializeToString(),so,providers=['CPUExecutionProvider']).run(None,dict(zip(names,inputs)))[0]
ri=lambda *s: rng.integers(-4,5,size=s).astype(np.float32)
cases=[]
def add(kind, attrs, inputs, y):
    cases.append(dict(kind=kind, attrs=attrs, inputs=[dict(shape=list(a.shape),data=a.ravel().tolist()) for a in inputs], y=dict(shape=list(y.shape),data=y.ravel().tolist())))
for _ in range(40):
    s=int(rng.integers(1,3)); groups=int(rng.choice([1,2,3])); cpg=int(rng.integers(1,3)); mpg=int(rng.integers(1,3))
    k=[int(rng.integers(1,4)) for _ in range(s)]; st=[int(rng.integers(1,3)) for _ in range(s)]; dil=[int(rng.integers(1,3)) for _ in range(s)]
    pads=[int(rng.integers(0,3)) for _ in range(2*s)]
    sp=[int(rng.integers(4,8)) for _ in range(s)]
    x=ri(1,groups*cpg,*sp); w=ri(groups*mpg,cpg,*k); b=ri(groups*mpg)
    try: y=run('Conv',[x,w,b],strides=st,pads=pads,dilations=dil,group=groups,kernel_shape=k)
    except Exception as e: continue
    add('conv',dict(stride=st,pads=pads,dilation=dil,groups=groups),[x,w,b],y)
for _ in range(60):
    s=int(rng.integers(1,3)); k=[int(rng.integers(1,4)) for _ in range(s)]; st=[int(rng.integers(1,4)) for _ in range(s)]
    pads=[int(rng.integers(0,k[i%s])) for i in range(2*s)]; ceil=int(rng.integers(0,2)); cip=int(rng.integers(0,2))
    sp=[int(rng.integers(3,8)) for _ in range(s)]
    x=ri(1,2,*sp)
    kind=str(rng.choice(['MaxPool','AveragePool']))
    kw=dict(kernel_shape=k,strides=st,pads=pads,ceil_mode=ceil)
    if kind=='AveragePool': kw['count_include_pad']=cip
    else:
        dil=[int(rng.integers(1,3)) for _ in range(s)]; kw['dilations']=dil
    try: y=run(kind,[x],**kw)
    except Exception as e: continue
    add(kind,dict(kernel=k,stride=st,pads=pads,dilation=kw.get('dilations',[1]*s),ceil=ceil,cip=cip),[x],y)
for ta in [0,1]:
  for tb in [0,1]:
    for cs in [[], [5], [3,1], [3,5], [1,5]]:
        a=ri(4,3) if ta else ri(3,4); b=ri(5,4) if tb else ri(4,5); c=ri(*cs) if cs else np.array(2,np.float32)
        y=run('Gemm',[a,b,c],transA=ta,transB=tb,alpha=2.0,beta=0.5)
        add('gemm',dict(ta=ta,tb=tb),[a,b,c],y)
for sa,sb in [([3],[3,4]),([2,3],[3]),([5,1,2,3],[4,3,6]),([2,3],[3,4]),([3],[3]),([1,2,3],[2,3,2])]:
    a=ri(*sa); b=ri(*sb); add('matmul',{},[a,b],run('MatMul',[a,b]))


def dims(s):
    return ','.join(map(str, s)) if s else '-'


def num(v):
    v = float(v)
    return str(int(v)) if v == int(v) else repr(v)


for c in cases:
    a = c['attrs']
    kv = ' '.join(f"{k}={','.join(map(str, v)) if isinstance(v, list) else v}" for k, v in a.items())
    print(f"case {c['kind']} {kv}".rstrip())
    for t in c['inputs']:
        print(f"input {dims(t['shape'])} " + ' '.join(num(v) for v in t['data']))
    print(f"output {dims(c['y']['shape'])} " + ' '.join(num(v) for v in c['y']['data']))
