;;;; Which thread library does this runtime use? SBCL_TEST_ARGS says what
;;;; the test expects:
;;;;   upstream  upstream's thread.c in libsbthread.so.0 (no sbthread_* symbols)
;;;;   shared    our libsbthread.so.0, mapped from a file, in host mode, and
;;;;             the runtime's create_thread is ours
;;;;   static    our code linked into the executable (no libsbthread mapped)
;;;; Exits 104 when the expectation holds.

(in-package "CL-USER")

(defvar *expect* (sb-ext:posix-getenv "SBCL_TEST_ARGS"))

(defun symbol-address (name)
  (let ((addr (sb-sys:find-dynamic-foreign-symbol-address name)))
    (and addr (not (zerop addr)) addr)))

;;; (start end path) of every mapping of a file named libsbthread*.
(defun libsbthread-mappings ()
  (with-open-file (maps "/proc/self/maps")
    (loop for line = (read-line maps nil)
          while line
          for path-start = (position #\/ line)
          when (and path-start (search "libsbthread" line :start2 path-start))
            collect (let ((dash (position #\- line)))
                      (list (parse-integer line :end dash :radix 16)
                            (parse-integer line :start (1+ dash) :end (position #\Space line) :radix 16)
                            (subseq line path-start))))))

(defun host-mode-p ()
  (let ((f (symbol-address "sbthread_is_host_mode")))
    (and f (= 1 (sb-alien:alien-funcall
                 (sb-alien:sap-alien (sb-sys:int-sap f) (function sb-alien:int)))))))

(let* ((maps (libsbthread-mappings))
       (ours (symbol-address "sbthread_is_host_mode"))
       (create (symbol-address "create_thread"))
       (create-in (find-if (lambda (m) (and create (<= (first m) create) (< create (second m)))) maps))
       (files (remove-duplicates (mapcar #'third maps) :test #'string=)))
  (format t "~&which-library: expected ~A; sbthread_* symbols ~:[absent~;present~]; host mode ~A; ~
             create_thread from ~A; libsbthread files mapped: ~{~A~^, ~}~%"
          *expect* ours (host-mode-p) (if create-in (third create-in) "the executable") files)
  (let ((ok (cond
              ((string= *expect* "upstream")
               (and (not ours) create-in))
              ((string= *expect* "shared")
               (and ours (host-mode-p) create-in
                    (search "prefix/lib/libsbthread.so" (third create-in))))
              ((string= *expect* "static")
               (and ours (host-mode-p) (null maps) create (not create-in))))))
    (sb-ext:quit :unix-status (if ok 104 1))))
