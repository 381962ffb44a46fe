"""What a stored run measured, as reports show it (tokbench.report.runs)."""


def test_topology_appears_beside_the_hardware():
    from tokbench.report.runs import display

    rpc = {"model": "m", "quant": "Q8_0", "engine": "llama.cpp-server", "hardware_label": "host CPU",
           "topology": {"nodes": 2, "gpus": 0, "split": "pipeline", "link": "loopback",
                        "detail": "llama.cpp RPC: 1 rpc-server(s) on loopback, the rest in the client"}}
    assert display(rpc)["hardware"] == ("host CPU [2 nodes, pipeline split, over loopback (llama.cpp RPC: "
                                        "1 rpc-server(s) on loopback, the rest in the client)]")
    exo = {"model": "m", "hardware_id": None, "topology": {"nodes": 2, "gpus": None, "split": "tensor",
                                                           "link": "tb5-rdma", "hardware": "2x m3-ultra-80c:512"}}
    from tokbench.report.labels import UNKNOWN

    assert display(exo)["hardware"] == f"{UNKNOWN} [2x m3-ultra-80c:512, tensor split, over tb5-rdma]"
    one = {"model": "m", "hardware_id": "h200", "topology": {"nodes": 1, "gpus": 1, "split": None, "link": None}}
    assert display(one)["hardware"] == "h200"  # one machine as it comes: nothing added
