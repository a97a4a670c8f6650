/* Annotated video written by FFmpeg directly, in whatever container the file name asks for:
 * H.264 by libx264 (what browsers play; constant quality, a key frame every 2 s for seeking,
 * the index first in MP4 so playback starts before the file is loaded), else another H.264
 * encoder FFmpeg has, else MPEG-4 Part 2 (plays in desktop players, not browsers); AVI gets
 * MPEG-4 Part 2 tagged XVID, as its players expect.
 *
 * OpenCV 4.6's writer keeps a packet buffer of 4 bytes a pixel (33 MB at 4K) besides the
 * encoder's own pictures, and cannot say why a write failed. Here packets take what they need,
 * and every failure (a full disk) comes back as FFmpeg's error code. The BGR conversion is
 * OpenCV's (swscale, bicubic). Compiled against the FFmpeg that OpenCV uses. */

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/avutil.h>
#include <libavutil/error.h>
#include <libswscale/swscale.h>
#include <stdio.h>
#include <stdlib.h>

/* MPEG-4 quantiser, 2 (finest) … 31: at 4, drawn lines and labels stay clean, and a
 * 768×576 annotated video takes about 3 Mbit/s, as OpenCV's writer did. */
#define QUANTISER 4
/* MPEG-4 Part 2: a key frame at least every this many frames, as OpenCV's writer did. */
#define GOP 12
/* libx264's constant quality (0 lossless … 51; 23 is its default). Surveillance pictures are
 * mostly still background and noise (grass, sensor grain) that costs bits and says nothing: at
 * 34 boxes, labels and people stay sharp, and vtest.avi's 795 annotated 768×576 frames take
 * 5.8 MB (23: 20 MB; MPEG-4 Part 2 took 25.5 MB). */
#define X264_CRF "34"
/* No look-ahead and no B-frames: each buffered picture is 12 MB at 4K, and x264's defaults hold
 * about 35 of them (a 4K run with video went from 380 to 815 MB); without, 440 MB, for files
 * 15 % larger. */
#define X264_PARAMS "rc-lookahead=0:bframes=0"
/* A key frame every this many seconds: a player seeks to within it. */
#define X264_KEY_S 2.0
/* Fast enough on one core to keep up with the pipeline (docs: vigil bench's encode stage). */
#define X264_PRESET "veryfast"

struct vigil_encoder {
    AVFormatContext *format;
    AVCodecContext *codec;
    AVStream *stream;
    AVFrame *frame;
    AVPacket *packet;
    struct SwsContext *convert;
    int64_t next_pts;
    int header_written;
};

void vigil_encoder_error_text(int code, char *text, int len) {
    av_strerror(code, text, (size_t)len);
}

static void free_encoder(struct vigil_encoder *e) {
    sws_freeContext(e->convert);
    av_frame_free(&e->frame);
    av_packet_free(&e->packet);
    avcodec_free_context(&e->codec);
    if (e->format) {
        if (e->format->pb) avio_closep(&e->format->pb);
        avformat_free_context(e->format);
    }
    free(e);
}

/* A codec context for `codec` set up for this video; opened, or NULL. */
static AVCodecContext *open_codec(const AVCodec *codec, const AVFormatContext *format, int width,
                                  int height, double fps) {
    AVCodecContext *c = avcodec_alloc_context3(codec);
    if (!c) return NULL;
    c->width = width;
    c->height = height;
    c->pix_fmt = AV_PIX_FMT_YUV420P;
    /* MPEG-4 Part 2 allows time bases up to 1/65535. */
    c->framerate = av_d2q(fps, 65535);
    c->time_base = av_inv_q(c->framerate);
    c->thread_count = 1;
    if (format->oformat->flags & AVFMT_GLOBALHEADER) c->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    AVDictionary *options = NULL;
    if (codec->id == AV_CODEC_ID_MPEG4) {
        c->gop_size = GOP;
        c->flags |= AV_CODEC_FLAG_QSCALE;
        c->global_quality = FF_QP2LAMBDA * QUANTISER;
    } else {
        c->gop_size = fps >= 1 ? (int)(X264_KEY_S * fps + 0.5) : 1;
        av_dict_set(&options, "crf", X264_CRF, 0);
        av_dict_set(&options, "preset", X264_PRESET, 0);
        av_dict_set(&options, "x264-params", X264_PARAMS, 0);
    }
    int r = avcodec_open2(c, codec, &options);
    av_dict_free(&options);
    if (r < 0) avcodec_free_context(&c);
    return c;
}

/* Opens `path` for `width`×`height` frames at `fps`; NULL on failure, with FFmpeg's error code
 * in *err (AVERROR_MUXER_NOT_FOUND when the name's extension says no known container).
 * `xvid_tag`: MPEG-4 Part 2 tagged XVID (for AVI players); otherwise H.264 where FFmpeg has an
 * encoder that opens. The encoder used is named in `used` (up to `used_len` bytes). */
struct vigil_encoder *vigil_encoder_open(const char *path, int width, int height, double fps,
                                         int xvid_tag, int *err, char *used, int used_len) {
    struct vigil_encoder *e = calloc(1, sizeof *e);
    if (!e) {
        *err = AVERROR(ENOMEM);
        return NULL;
    }
    *err = avformat_alloc_output_context2(&e->format, NULL, NULL, path);
    if (*err < 0) goto fail;
    *err = AVERROR_ENCODER_NOT_FOUND;
    if (!(e->stream = avformat_new_stream(e->format, NULL))) goto fail;
    if (!xvid_tag) {
        const AVCodec *h264[] = {avcodec_find_encoder_by_name("libx264"),
                                 avcodec_find_encoder(AV_CODEC_ID_H264)};
        for (int i = 0; i < 2 && !e->codec; i++)
            if (h264[i]) e->codec = open_codec(h264[i], e->format, width, height, fps);
    }
    if (!e->codec) {
        const AVCodec *mpeg4 = avcodec_find_encoder(AV_CODEC_ID_MPEG4);
        if (!mpeg4 || !(e->codec = open_codec(mpeg4, e->format, width, height, fps))) goto fail;
    }
    AVCodecContext *c = e->codec;
    snprintf(used, (size_t)used_len, "%s", c->codec->name);
    if ((*err = avcodec_parameters_from_context(e->stream->codecpar, c)) < 0) goto fail;
    if (xvid_tag) e->stream->codecpar->codec_tag = MKTAG('X', 'V', 'I', 'D');
    e->stream->time_base = c->time_base;
    e->stream->avg_frame_rate = c->framerate;
    *err = AVERROR(ENOMEM);
    if (!(e->frame = av_frame_alloc()) || !(e->packet = av_packet_alloc())) goto fail;
    e->frame->format = c->pix_fmt;
    e->frame->width = width;
    e->frame->height = height;
    if ((*err = av_frame_get_buffer(e->frame, 0)) < 0) goto fail;
    e->convert = sws_getContext(width, height, AV_PIX_FMT_BGR24, width, height, c->pix_fmt,
                                SWS_BICUBIC, NULL, NULL, NULL);
    *err = AVERROR(EINVAL);
    if (!e->convert) goto fail;
    if ((*err = avio_open(&e->format->pb, path, AVIO_FLAG_WRITE)) < 0) goto fail;
    AVDictionary *muxing = NULL;
    /* MP4 and MOV: the index (moov) before the pictures, so a browser plays from the start. */
    av_dict_set(&muxing, "movflags", "+faststart", 0);
    *err = avformat_write_header(e->format, &muxing);
    av_dict_free(&muxing);
    if (*err < 0) goto fail;
    e->header_written = 1;
    *err = 0;
    return e;
fail:
    free_encoder(e);
    return NULL;
}

/* Writes what the encoder has ready; 0 or FFmpeg's error code. */
static int drain(struct vigil_encoder *e) {
    for (;;) {
        int r = avcodec_receive_packet(e->codec, e->packet);
        if (r == AVERROR(EAGAIN) || r == AVERROR_EOF) return 0;
        if (r < 0) return r;
        av_packet_rescale_ts(e->packet, e->codec->time_base, e->stream->time_base);
        e->packet->stream_index = e->stream->index;
        r = av_interleaved_write_frame(e->format, e->packet);
        if (r < 0) return r;
    }
}

/* Encodes one BGR24 picture of the opened size (rows of `step` bytes). 0 or an error code. */
int vigil_encoder_write_bgr(struct vigil_encoder *e, const unsigned char *bgr, int step) {
    int r = av_frame_make_writable(e->frame);
    if (r < 0) return r;
    const uint8_t *planes[4] = {bgr, NULL, NULL, NULL};
    int steps[4] = {step, 0, 0, 0};
    sws_scale(e->convert, planes, steps, 0, e->codec->height, e->frame->data,
              e->frame->linesize);
    e->frame->pts = e->next_pts++;
    /* MPEG-4 Part 2's fixed quantiser is asked per frame (0 for libx264, which ignores it). */
    e->frame->quality = e->codec->global_quality;
    if ((r = avcodec_send_frame(e->codec, e->frame)) < 0) return r;
    return drain(e);
}

/* Flushes the encoder, finishes the file and frees everything. 0 or the first error code. */
int vigil_encoder_close(struct vigil_encoder *e) {
    if (!e) return 0;
    int r = avcodec_send_frame(e->codec, NULL);
    if (r >= 0) r = drain(e);
    if (e->header_written) {
        int t = av_write_trailer(e->format);
        if (r >= 0) r = t;
    }
    if (e->format->pb) {
        int c = avio_closep(&e->format->pb);
        if (r >= 0) r = c;
    }
    free_encoder(e);
    return r < 0 ? r : 0;
}
