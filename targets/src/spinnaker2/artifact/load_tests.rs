//! Write/load round trips and the loader's handling of damaged artifacts.

use std::fs;
use std::path::{Path, PathBuf};

use super::fixture::{artifact, KERNEL};
use super::*;

/// A fresh scratch directory for one test (removed at the start, so reruns are clean).
fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("snnc-artifact-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    let _ = fs::create_dir_all(&d);
    d
}

/// Removes a test's scratch directory once it passed (kept on failure for inspection).
fn cleanup(name: &str) {
    let d = std::env::temp_dir().join(format!("snnc-artifact-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(d);
}

fn written(name: &str) -> PathBuf {
    let out = scratch(name).join("out");
    let r = artifact().write(&out, &KERNEL);
    assert!(r.is_ok(), "{r:?}");
    out
}

fn load_err(dir: &Path) -> String {
    match LoadedArtifact::load(dir) {
        Ok(_) => String::from("loaded"),
        Err(e) => e.to_string(),
    }
}

fn edit_manifest(dir: &Path, f: impl Fn(&mut serde_json::Value)) {
    let p = dir.join(MANIFEST_FILE);
    let text = fs::read_to_string(&p).unwrap_or_default();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    f(&mut v);
    let _ = fs::write(&p, serde_json::to_string_pretty(&v).unwrap_or_default());
}

#[test]
fn render_fills_digests_and_is_deterministic() {
    let a = artifact().render(&KERNEL);
    let b = artifact().render(&KERNEL);
    assert!(a.is_ok(), "{a:?}");
    let (Ok(a), Ok(b)) = (a, b) else { return };
    assert_eq!(a, b);
    let names: Vec<&str> = a.files.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "kernel/snnc_pe.c",
            "kernel/snnc_pe.h",
            "manifest.json",
            "pe/pe_00000.bin",
            "pe/pe_00001.bin",
            "routing.json"
        ]
    );
    let m = &a.manifest;
    assert_eq!(m.pes[0].pe.0, 0);
    assert_eq!(m.pes[0].bytes, 80);
    assert_eq!(m.pes[0].digest, file_digest(&a.files["pe/pe_00000.bin"]));
    assert_eq!(m.routing.routers, 1);
    assert_eq!(
        (
            m.routing.entries_before,
            m.routing.entries_after,
            m.routing.max_entries
        ),
        (1, 1, 1)
    );
    assert_eq!(m.kernel.files, ["kernel/snnc_pe.c", "kernel/snnc_pe.h"]);
    let text = String::from_utf8(a.files["manifest.json"].clone()).unwrap_or_default();
    assert!(text.ends_with("}\n"));
    assert!(text.contains("\"format\": \"snnc-spinnaker2\""));
    assert!(text.contains("\"kind\": \"integer\""));
}

#[test]
fn write_then_load_round_trips() {
    let out = written("rt");
    let loaded = LoadedArtifact::load(&out);
    assert!(loaded.is_ok(), "{loaded:?}");
    let Ok(loaded) = loaded else { return };
    let mut expected = artifact();
    expected.images.sort_by_key(|(p, _)| *p);
    assert_eq!(loaded.images, expected.images);
    assert_eq!(loaded.routing, expected.routing);
    assert_eq!(loaded.image(PeId(1)).map(|i| i.n), Some(3));
    assert_eq!(loaded.image(PeId(2)), None);
    // Re-rendering the loaded artifact gives the same bytes.
    let again = loaded.into_artifact().render(&KERNEL);
    let first = artifact().render(&KERNEL);
    assert_eq!(again.ok().map(|r| r.files), first.ok().map(|r| r.files));
    cleanup("rt");
}

#[test]
fn write_replaces_previous_artifact_only() {
    let out = written("replace");
    let _ = fs::write(out.join("stale.txt"), "x");
    assert!(artifact().write(&out, &KERNEL).is_ok());
    assert!(!out.join("stale.txt").exists());
    let parent = out.parent().map(Path::to_path_buf).unwrap_or_default();
    let leftovers = fs::read_dir(&parent).map(|d| d.count()).unwrap_or(0);
    assert_eq!(leftovers, 1, "temporary directories left behind");

    // A non-empty directory that is not an artifact is never replaced.
    let user = scratch("userdir").join("docs");
    let _ = fs::create_dir_all(&user);
    let _ = fs::write(user.join("notes.txt"), "keep me");
    let e = artifact().write(&user, &KERNEL);
    assert!(e.is_err());
    assert!(user.join("notes.txt").exists());
    cleanup("replace");
    cleanup("userdir");
}

#[test]
fn failed_write_leaves_nothing() {
    let out = written("fail");
    let before = fs::read(out.join("pe/pe_00001.bin")).unwrap_or_default();
    let mut bad = artifact();
    bad.images[0].1.n = 2000;
    let e = bad.write(&out, &KERNEL);
    assert!(matches!(e, Err(ArtifactError::Image { .. })), "{e:?}");
    assert_eq!(
        fs::read(out.join("pe/pe_00001.bin")).unwrap_or_default(),
        before
    );
    let parent = out.parent().map(Path::to_path_buf).unwrap_or_default();
    assert_eq!(fs::read_dir(&parent).map(|d| d.count()).unwrap_or(0), 1);
    // A manifest inconsistent with an image is refused before writing too.
    let mut bad = artifact();
    bad.manifest.populations[1].depth = 3;
    bad.manifest.latency = 3;
    let e = bad
        .render(&KERNEL)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        e.contains("start_tick 1 but the population depth is 3"),
        "{e}"
    );
    cleanup("fail");
}

#[test]
fn corrupted_artifacts_give_clear_errors() {
    let out = written("corrupt");
    let image = out.join("pe/pe_00001.bin");
    let good = fs::read(&image).unwrap_or_default();

    // One flipped bit: the digest catches it.
    let mut b = good.clone();
    b[100] ^= 4;
    let _ = fs::write(&image, &b);
    let e = load_err(&out);
    assert!(e.starts_with("pe/pe_00001.bin: digest"), "{e}");

    // Same corruption with the manifest digest updated: the image checksum catches it.
    let digest = file_digest(&b);
    edit_manifest(&out, |v| v["pes"][1]["digest"] = digest.clone().into());
    let e = load_err(&out);
    assert!(e.starts_with("pe/pe_00001.bin: checksum mismatch"), "{e}");

    // Truncated image.
    let _ = fs::write(&image, &good[..good.len() - 4]);
    let e = load_err(&out);
    assert!(
        e.contains("pe/pe_00001.bin") && e.contains("truncated"),
        "{e}"
    );

    // Missing image.
    let _ = fs::remove_file(&image);
    let e = load_err(&out);
    assert!(
        e.contains("pe_00001.bin") && e.contains("No such file"),
        "{e}"
    );

    // Not a regular file (a FIFO or a device would block or never end).
    let _ = fs::create_dir(&image);
    let e = load_err(&out);
    assert!(
        e.contains("pe_00001.bin") && e.contains("not a regular file"),
        "{e}"
    );
    cleanup("corrupt");
}

#[test]
fn bad_manifests_give_clear_errors() {
    let out = written("manifest");
    let p = out.join(MANIFEST_FILE);
    let good = fs::read_to_string(&p).unwrap_or_default();

    let _ = fs::write(&p, &good[..good.len() / 2]);
    assert!(
        load_err(&out).starts_with("manifest.json: EOF"),
        "{}",
        load_err(&out)
    );

    let _ = fs::write(&p, &good);
    edit_manifest(&out, |v| v["extra"] = 1.into());
    assert!(
        load_err(&out).contains("unknown field `extra`"),
        "{}",
        load_err(&out)
    );

    let _ = fs::write(&p, &good);
    edit_manifest(&out, |v| v["format_version"] = 2.into());
    assert!(load_err(&out).contains("format_version 2 is not supported"));

    let _ = fs::write(&p, &good);
    edit_manifest(&out, |v| v["pes"][0]["image"] = "../../etc/passwd".into());
    assert!(
        load_err(&out).contains("should be \"pe/pe_00000.bin\""),
        "{}",
        load_err(&out)
    );

    let _ = fs::write(&p, &good);
    edit_manifest(&out, |v| v["kernel"]["files"][0] = "/etc/passwd".into());
    assert!(
        load_err(&out).contains("is not a path under kernel/"),
        "{}",
        load_err(&out)
    );

    let _ = fs::write(&p, &good);
    edit_manifest(&out, |v| {
        v["populations"][1]["slices"][0]["count"] = 2.into()
    });
    assert!(
        load_err(&out).contains("slices cover 2 of 3 neurons"),
        "{}",
        load_err(&out)
    );

    let _ = fs::write(&p, &good);
    edit_manifest(&out, |v| {
        v["populations"][1]["neurons"] = 2.into();
        v["populations"][1]["slices"][0]["count"] = 2.into();
        v["output"]["shape"][0] = 2.into();
    });
    let e = load_err(&out);
    assert!(
        e.starts_with("pe/pe_00001.bin: disagrees with manifest.json: neurons"),
        "{e}"
    );

    let _ = fs::write(&p, &good);
    edit_manifest(&out, |v| v["latency"] = 2.into());
    assert!(load_err(&out).contains("latency 2 is not the output population's depth 1"));

    let _ = fs::write(&p, &good);
    edit_manifest(&out, |v| v["input"]["encoding"]["lo"] = 200.into());
    assert!(load_err(&out).contains("input range 200..=127 is empty"));

    let _ = fs::write(&p, &good);
    edit_manifest(&out, |v| {
        v["resources"]["expected_packets_per_step"] = serde_json::Value::Null
    });
    assert!(
        load_err(&out).starts_with("manifest.json: invalid type: null"),
        "{}",
        load_err(&out)
    );

    let _ = fs::write(&p, &good);
    let _ = fs::write(out.join("routing.json"), "{\"routers\": []}\n");
    assert!(
        load_err(&out).starts_with("routing.json: digest"),
        "{}",
        load_err(&out)
    );

    let _ = fs::write(out.join("kernel/snnc_pe.c"), "int x;\n");
    let _ = fs::remove_file(out.join("routing.json"));
    assert!(load_err(&out).contains("routing.json"));
    assert!(load_err(&out.join("nothing")).contains("is not a directory"));
    cleanup("manifest");
}

#[test]
fn streamed_write_equals_render() {
    let out = written("streamed");
    let Ok(r) = artifact().render(&KERNEL) else {
        panic!("render")
    };
    let mut on_disk = 0;
    for (rel, bytes) in &r.files {
        assert_eq!(fs::read(out.join(rel)).ok().as_ref(), Some(bytes), "{rel}");
        on_disk += 1;
    }
    assert_eq!(on_disk, r.files.len());
    // Nothing else was written: pe/ holds exactly the rendered images.
    let pe_files = fs::read_dir(out.join("pe")).map(|d| d.count()).unwrap_or(0);
    assert_eq!(
        pe_files,
        r.files.keys().filter(|k| k.starts_with("pe/")).count()
    );
    cleanup("streamed");
}
