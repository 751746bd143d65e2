"""Reading printed passes back, as a gate's scanner in QR mode reads them."""

from __future__ import annotations


def qr_texts(image) -> list[str]:
    """The text of every QR code in `image`. QR codes only: zxing's 1D readers sometimes take a
    pass's printed digits (its 编号, its dates) for a linear barcode ("2616", once in CI), which no
    gate's scanner set up for passes would read."""
    import zxingcpp

    return [r.text for r in zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)]
