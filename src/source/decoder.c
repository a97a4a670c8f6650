/* Video files decoded by FFmpeg directly, with a bounded decoder.
 *
 * OpenCV 4.6's capture gives FFmpeg's decoder as many frame threads as the machine has cores,
 * and each frame thread holds pictures of its own: at 4K that is 30 MB more per core (measured
 * with ffmpeg: 185 MB with 2 threads, 506 MB with 16), and OpenCV converts each picture into a
 * BGR copy of its own before handing it over. Here the thread count is chosen by the caller, the
 * picture is converted straight into the caller's buffer, and every frame comes with the
 * container's own presentation time.
 *
 * The conversion is OpenCV's (swscale, bicubic, to BGR24), so the pixels are the ones OpenCV
 * would give. Compiled against the FFmpeg that OpenCV uses. */

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/avutil.h>
#include <libavutil/display.h>
#include <libswscale/swscale.h>
#include <math.h>
#include <stdlib.h>

struct vigil_decoder {
    AVFormatContext *format;
    AVCodecContext *codec;
    AVPacket *packet;
    AVFrame *frame;
    struct SwsContext *convert;
    int stream;
    int draining;
    AVRational time_base;
    int64_t start;
};

void vigil_decoder_close(struct vigil_decoder *d) {
    if (!d) return;
    sws_freeContext(d->convert);
    av_frame_free(&d->frame);
    av_packet_free(&d->packet);
    avcodec_free_context(&d->codec);
    avformat_close_input(&d->format);
    free(d);
}

/* FFmpeg's own log follows OpenCV's variable, which vigil sets to quiet unless the user set it. */
static void follow_log_level(void) {
    const char *level = getenv("OPENCV_FFMPEG_LOGLEVEL");
    if (level) av_log_set_level(atoi(level));
}

/* NULL when the file cannot be opened, has no video stream, or no decoder for it; `why` says
 * which (0: cannot open, 1: no video stream, 2: no decoder). `threads`: the decoder's threads.
 * They work on several frames at once up to `frame_thread_pixels` a frame (each holds pictures
 * of its own), on slices of one frame above. */
struct vigil_decoder *vigil_decoder_open(const char *path, int threads,
                                         int64_t frame_thread_pixels, int *why) {
    follow_log_level();
    struct vigil_decoder *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    *why = 0;
    if (avformat_open_input(&d->format, path, NULL, NULL) < 0) {
        free(d);
        return NULL;
    }
    *why = 1;
    if (avformat_find_stream_info(d->format, NULL) < 0) goto fail;
    const AVCodec *decoder = NULL;
    d->stream = av_find_best_stream(d->format, AVMEDIA_TYPE_VIDEO, -1, -1, &decoder, 0);
    if (d->stream < 0) goto fail;
    *why = 2;
    if (!decoder) goto fail;
    for (unsigned i = 0; i < d->format->nb_streams; i++)
        if ((int)i != d->stream) d->format->streams[i]->discard = AVDISCARD_ALL;
    const AVStream *s = d->format->streams[d->stream];
    if (!(d->codec = avcodec_alloc_context3(decoder)) ||
        avcodec_parameters_to_context(d->codec, s->codecpar) < 0)
        goto fail;
    d->codec->thread_count = threads > 0 ? threads : 1;
    int64_t pixels = (int64_t)s->codecpar->width * s->codecpar->height;
    d->codec->thread_type = pixels <= frame_thread_pixels ? FF_THREAD_FRAME : FF_THREAD_SLICE;
    d->codec->pkt_timebase = s->time_base;
    if (avcodec_open2(d->codec, decoder, NULL) < 0 || !(d->packet = av_packet_alloc()) ||
        !(d->frame = av_frame_alloc()))
        goto fail;
    d->time_base = s->time_base;
    /* Times count from the stream's start, as OpenCV's do. */
    d->start = s->start_time == AV_NOPTS_VALUE ? 0 : s->start_time;
    return d;
fail:
    vigil_decoder_close(d);
    return NULL;
}

/* What the container says about the stream; unknown figures are 0 (NAN for the duration).
 * `rotation`: the clockwise turn, in degrees (0, 90, 180 or 270), that shows the pictures
 * upright (phones record portrait video as landscape pictures with this in the metadata), as
 * OpenCV reads it. */
void vigil_decoder_info(const struct vigil_decoder *d, int *width, int *height, double *fps,
                        int64_t *frame_count, double *duration_ms, int *rotation) {
    const AVStream *s = d->format->streams[d->stream];
    const uint8_t *matrix = av_stream_get_side_data(s, AV_PKT_DATA_DISPLAYMATRIX, NULL);
    int turn = matrix ? -(int)lrint(av_display_rotation_get((const int32_t *)matrix)) : 0;
    *rotation = ((turn % 360) + 360) % 360;
    *width = d->codec->width;
    *height = d->codec->height;
    AVRational rate = s->avg_frame_rate.num > 0 ? s->avg_frame_rate : s->r_frame_rate;
    *fps = rate.num > 0 && rate.den > 0 ? av_q2d(rate) : 0.0;
    *frame_count = s->nb_frames;
    if (s->duration != AV_NOPTS_VALUE && s->duration > 0)
        *duration_ms = (double)s->duration * av_q2d(s->time_base) * 1000.0;
    else if (d->format->duration != AV_NOPTS_VALUE && d->format->duration > 0)
        *duration_ms = (double)d->format->duration / AV_TIME_BASE * 1000.0;
    else
        *duration_ms = NAN;
}

/* Decodes the next frame and keeps it for vigil_decoder_copy_bgr. 1: a frame (its size, its
 * presentation time in ms or NAN, and in *lost the packets since the last frame that the
 * decoder refused as damaged); 0: the end of the file. A read error ends the file too: what
 * the decoder still holds comes out first. */
int vigil_decoder_next(struct vigil_decoder *d, int *width, int *height, double *pts_ms,
                       int *lost) {
    *lost = 0;
    for (;;) {
        int r = avcodec_receive_frame(d->codec, d->frame);
        if (r == 0) {
            *width = d->frame->width;
            *height = d->frame->height;
            int64_t when = d->frame->best_effort_timestamp;
            *pts_ms = when == AV_NOPTS_VALUE
                          ? NAN
                          : (double)(when - d->start) * av_q2d(d->time_base) * 1000.0;
            return 1;
        }
        if (r == AVERROR_EOF) return 0;
        if (r != AVERROR(EAGAIN)) { /* a frame the decoder gave up on */
            (*lost)++;
            continue;
        }
        if (d->draining) return 0;
        r = av_read_frame(d->format, d->packet);
        if (r < 0) {
            d->draining = 1;
            avcodec_send_packet(d->codec, NULL);
            continue;
        }
        if (d->packet->stream_index == d->stream) {
            r = avcodec_send_packet(d->codec, d->packet);
            if (r < 0 && r != AVERROR(EAGAIN)) (*lost)++;
        }
        av_packet_unref(d->packet);
    }
}

/* The frame vigil_decoder_next kept, converted to BGR24 into `dst` (rows of `step` bytes, the
 * frame's size). 0 on success. */
int vigil_decoder_copy_bgr(struct vigil_decoder *d, unsigned char *dst, int step) {
    AVFrame *f = d->frame;
    d->convert = sws_getCachedContext(d->convert, f->width, f->height, f->format, f->width,
                                      f->height, AV_PIX_FMT_BGR24, SWS_BICUBIC, NULL, NULL, NULL);
    if (!d->convert) return -1;
    uint8_t *planes[4] = {dst, NULL, NULL, NULL};
    int steps[4] = {step, 0, 0, 0};
    int height = f->height;
    int rows = sws_scale(d->convert, (const uint8_t *const *)f->data, f->linesize, 0, height,
                         planes, steps);
    av_frame_unref(f);
    return rows == height ? 0 : -1;
}
