"""What the recorder needs to know of an encoded frame without decoding it: keyframe or not, picture size,
and the H.264 parameter sets a container's header wants. Pure byte arithmetic over the frames aiortc's
depacketizers assemble (a whole VP8 frame; H.264 in Annex-B with start codes).

Hand-written because no maintained Python library parses these headers alone (FFmpeg's parsers are not
exposed by PyAV without a codec context); each function follows its specification's syntax tables:
RFC 6386 section 9.1 (VP8 frame tag), ITU-T H.264 section 7.3.2.1.1 (seq_parameter_set_rbsp).
"""

from __future__ import annotations

from dataclasses import dataclass

VP8_START_CODE = b"\x9d\x01\x2a"
H264_IDR, H264_SPS, H264_PPS = 5, 7, 8
# profile_idc values whose SPS carries chroma_format_idc and the bit depths (H.264 7.3.2.1.1)
H264_HIGH_PROFILES = {100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135}


@dataclass(frozen=True)
class FrameInfo:
    keyframe: bool
    width: int = 0  # 0 when the frame does not say (not a keyframe)
    height: int = 0
    parameter_sets: bytes = b""  # H.264: the SPS and PPS NAL units of a keyframe, Annex-B


def vp8_info(data: bytes) -> FrameInfo:
    """RFC 6386 9.1: bit 0 of the frame tag is 0 for a key frame, which then has the start code and the
    14-bit width and height (the top two bits are the scaling mode)."""
    if not data or data[0] & 1:
        return FrameInfo(keyframe=False)
    if len(data) < 10 or data[3:6] != VP8_START_CODE:
        return FrameInfo(keyframe=False)
    width = int.from_bytes(data[6:8], "little") & 0x3FFF
    height = int.from_bytes(data[8:10], "little") & 0x3FFF
    return FrameInfo(keyframe=True, width=width, height=height)


def h264_nal_units(data: bytes) -> list[bytes]:
    """The NAL units of an Annex-B buffer (start codes 00 00 01 or 00 00 00 01 removed)."""
    units: list[bytes] = []
    start = -1
    index = 0
    size = len(data)
    while index + 2 < size:
        if data[index] == 0 and data[index + 1] == 0 and data[index + 2] == 1:
            if start >= 0:
                units.append(data[start:index].rstrip(b"\x00"))
            index += 3
            start = index
            continue
        index += 1
    if start >= 0:
        units.append(data[start:])
    return [unit for unit in units if unit]


class _Bits:
    """An exp-Golomb reader over an RBSP (emulation prevention bytes removed)."""

    def __init__(self, payload: bytes) -> None:
        self.data = payload.replace(b"\x00\x00\x03", b"\x00\x00")
        self.position = 0

    def bit(self) -> int:
        byte = self.data[self.position >> 3]  # IndexError past the end: a truncated SPS
        value = (byte >> (7 - (self.position & 7))) & 1
        self.position += 1
        return value

    def bits(self, count: int) -> int:
        value = 0
        for _ in range(count):
            value = (value << 1) | self.bit()
        return value

    def ue(self) -> int:
        zeros = 0
        while self.bit() == 0:
            zeros += 1
            if zeros > 31:
                raise ValueError("bad exp-Golomb code")
        return (1 << zeros) - 1 + self.bits(zeros)

    def se(self) -> int:
        value = self.ue()
        return (value + 1) // 2 if value & 1 else -(value // 2)


def h264_sps_size(sps: bytes) -> tuple[int, int]:
    """(width, height) of the cropped picture an SPS NAL unit (its header byte included) describes."""
    bits = _Bits(sps[1:])
    profile = bits.bits(8)
    bits.bits(16)  # constraint flags, level_idc
    bits.ue()  # seq_parameter_set_id
    chroma_format = 1
    if profile in H264_HIGH_PROFILES:
        chroma_format = bits.ue()
        if chroma_format == 3:
            bits.bit()  # separate_colour_plane_flag
        bits.ue()  # bit_depth_luma_minus8
        bits.ue()  # bit_depth_chroma_minus8
        bits.bit()  # qpprime_y_zero_transform_bypass_flag
        if bits.bit():  # seq_scaling_matrix_present_flag
            for list_index in range(8 if chroma_format != 3 else 12):
                if bits.bit():
                    last, following = 8, 8
                    for _ in range(16 if list_index < 6 else 64):
                        if following:
                            following = (last + bits.se() + 256) % 256
                        last = following or last
    bits.ue()  # log2_max_frame_num_minus4
    order_type = bits.ue()
    if order_type == 0:
        bits.ue()  # log2_max_pic_order_cnt_lsb_minus4
    elif order_type == 1:
        bits.bit()
        bits.se()
        bits.se()
        for _ in range(bits.ue()):
            bits.se()
    bits.ue()  # max_num_ref_frames
    bits.bit()  # gaps_in_frame_num_value_allowed_flag
    width_mbs = bits.ue() + 1
    height_units = bits.ue() + 1
    frame_mbs_only = bits.bit()
    if not frame_mbs_only:
        bits.bit()  # mb_adaptive_frame_field_flag
    bits.bit()  # direct_8x8_inference_flag
    width, height = width_mbs * 16, (2 - frame_mbs_only) * height_units * 16
    if bits.bit():  # frame_cropping_flag
        left, right, top, bottom = bits.ue(), bits.ue(), bits.ue(), bits.ue()
        unit_x = 2 if chroma_format in (1, 2) else 1
        unit_y = (2 if chroma_format == 1 else 1) * (2 - frame_mbs_only)
        width -= unit_x * (left + right)
        height -= unit_y * (top + bottom)
    return width, height


def h264_info(data: bytes) -> FrameInfo:
    """An access unit is a keyframe when it holds an IDR slice; its SPS gives the size."""
    units = h264_nal_units(data)
    types = [unit[0] & 0x1F for unit in units]
    if H264_IDR not in types:
        return FrameInfo(keyframe=False)
    sps = next((unit for unit in units if unit[0] & 0x1F == H264_SPS), None)
    pps = next((unit for unit in units if unit[0] & 0x1F == H264_PPS), None)
    if sps is None or pps is None:
        return FrameInfo(keyframe=True)  # an IDR without parameter sets cannot start a file
    try:
        width, height = h264_sps_size(sps)
    except (IndexError, ValueError):
        return FrameInfo(keyframe=True)
    return FrameInfo(
        keyframe=True, width=width, height=height, parameter_sets=b"\x00\x00\x00\x01".join([b"", sps, pps])
    )


def frame_info(codec: str, data: bytes) -> FrameInfo:
    """Keyframe and size of one encoded video frame; every audio frame counts as a keyframe."""
    if codec == "vp8":
        return vp8_info(data)
    if codec == "h264":
        return h264_info(data)
    return FrameInfo(keyframe=True)
